"""A plain-Python reading of flatsearch's filter dict form, independent of the library,
used to check that every returned job satisfies its plan's strict filters.

Null semantics follow flatsearch: a missing value (None, NaN, empty tags) never matches a
comparison, and "not" negates the whole sub-expression."""
from __future__ import annotations

import math

OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
       "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, list) and not value)


def _compare(value, op: str, operand) -> bool:
    if _missing(value):
        return False
    if isinstance(value, list):  # tags: any element; "ne" means no element equals
        if op == "ne":
            return all(v != operand for v in value)
        if op == "in":
            return any(v in operand for v in value)
        return any(OPS[op](v, operand) for v in value)
    if op == "in":
        return value in operand
    return OPS[op](value, operand)


def matches(expression: dict, row: dict) -> bool:
    parts = []
    for key, value in expression.items():
        if key == "and":
            parts.append(all(matches(child, row) for child in value))
        elif key == "or":
            parts.append(any(matches(child, row) for child in value))
        elif key == "not":
            parts.append(not matches(value, row))
        elif isinstance(value, dict):
            parts.append(all(_compare(row[key], op, operand) for op, operand in value.items()))
        else:
            parts.append(_compare(row[key], "eq", value))
    return all(parts)


def row_of(catalog, job_id: int) -> dict:
    """The job's column values as plain Python values (None for missing)."""
    columns = catalog.columns([job_id])
    row = {}
    for name, column in columns.items():
        value = column[0]
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and math.isnan(value):
            value = None
        row[name] = value
    return row
