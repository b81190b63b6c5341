"""A plain-Python/numpy brute-force model of an Index, for comparing search results.

It evaluates the dict form of filters independently of flatsearch's own filter
code, with the same documented semantics (nulls never match a comparison; a
tags value matches when any element matches; tags ``ne`` means no element equals).
"""
from __future__ import annotations

import math

import numpy as np

OPS = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
}


def is_null(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == []


def matches(filter_dict: dict, row: dict, kinds: dict) -> bool:
    results = []
    for key, value in filter_dict.items():
        if key == "and":
            results.append(all(matches(f, row, kinds) for f in value))
        elif key == "or":
            results.append(any(matches(f, row, kinds) for f in value))
        elif key == "not":
            results.append(not matches(value, row, kinds))
        else:
            spec = value if isinstance(value, dict) else {"eq": value}
            for op, operand in spec.items():
                results.append(_compare(row.get(key), op, operand, kinds[key]))
    return all(results)


def _compare(value, op: str, operand, kind: str) -> bool:
    if is_null(value):
        return False
    if kind == "tags":
        if op == "ne":
            return all(tag != operand for tag in value)
        return any(_compare(tag, op, operand, "int") for tag in value)
    if op == "in":
        return value in list(operand)
    return OPS[op](value, operand)


class ModelIndex:
    def __init__(self, *, metric: str, kinds: dict):
        self.metric, self.kinds = metric, kinds
        self.rows: dict[int, tuple[np.ndarray, dict]] = {}

    def add(self, ids, vectors, attributes=None):
        for position, id_ in enumerate(ids):
            values = {name: (attributes or {}).get(name, [None] * len(ids))[position] for name in self.kinds}
            self.rows[int(id_)] = (np.asarray(vectors[position], dtype=np.float64), values)

    def upsert(self, ids, vectors, attributes=None):
        for position, id_ in enumerate(ids):
            old = self.rows.get(int(id_), (None, {name: None for name in self.kinds}))[1]
            values = dict(old)
            for name, column in (attributes or {}).items():
                values[name] = column[position]
            self.rows[int(id_)] = (np.asarray(vectors[position], dtype=np.float64), values)

    def delete(self, ids) -> int:
        removed = 0
        for id_ in set(int(i) for i in ids):
            removed += self.rows.pop(id_, None) is not None
        return removed

    def set_attributes(self, ids, columns):
        for position, id_ in enumerate(ids):
            for name, column in columns.items():
                self.rows[int(id_)][1][name] = column[position]

    def passing_ids(self, filter_dict):
        """Ascending ids of the rows matching ``filter_dict``."""
        return sorted(id_ for id_, (_, values) in self.rows.items() if matches(filter_dict, values, self.kinds))

    def search(self, query, k, filter_dict=None, boost=None):
        """(scores, ids) lists for one query: best first, ties by lower id, padded."""
        scored = []
        for id_, (vector, values) in self.rows.items():
            if filter_dict is not None and not matches(filter_dict, values, self.kinds):
                continue
            boost_term = sum(weight * (0.0 if is_null(values[name]) else float(values[name]))
                             for name, weight in (boost or {}).items())
            if self.metric == "l2":
                score = float(((np.asarray(query, dtype=np.float64) - vector) ** 2).sum()) - boost_term
                scored.append((score, id_))
            else:
                scored.append((-(float(np.dot(query, vector)) + boost_term), id_))
        scored.sort()
        best = scored[:k]
        pad = math.inf if self.metric == "l2" else -math.inf
        scores = [s if self.metric == "l2" else -s for s, _ in best] + [pad] * (k - len(best))
        ids = [i for _, i in best] + [-1] * (k - len(best))
        return scores, ids
