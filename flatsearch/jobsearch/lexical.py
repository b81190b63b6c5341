"""Lexical retrieval beside the dense index, the fusion rule, and the honest relevance floor.

**Index.** A BM25 index (bm25s, Lucene-style BM25 with k1=1.5, b=0.75) over each posting's title
(written twice, so title words weigh more than the rest), department and category. Words are folded to
lower-case ASCII and plural "s" is dropped ("engineers" matches "Engineer"); English stop words are
left out. The query side is the plan's semantic text, where abbreviations are already spelled out
("SWE software engineer"), so both "SWE" in a title and "Software Engineer" match.

**Candidates.** Besides the dense top-k, the ``LEXICAL_POOL`` best BM25 matches *among the jobs that pass
the plan's strict filters* join the pool, so an exact title is found even when its embedding ranks low.

**Fusion (documented rule, used unchanged for ranking).** With the default reranker (the documented
score of :mod:`~flatsearch.jobsearch.scoring`) each candidate's final score is

    final = reranker score + LEXICAL_WEIGHT * bm25(job) / max bm25 over the candidates

(0 when no candidate shares a word with the query). With ``LEXICAL_WEIGHT`` = 0.2 a job whose title
has every query word gains up to as much as a 0.2 higher cosine similarity. An installed cross-encoder
reranker reads the query and posting words itself, so its grades are kept as they are.

**Floor.** A job is a *close match* when its cosine similarity to the semantic text is at least
``max(MIN_CLOSE_SIMILARITY, best - CLOSE_MARGIN)``, where ``best`` is the highest similarity of any
job in the corpus, filters or not, or when its title holds every content word of the query
(normalised BM25 of 1 with all words present). When no job passing the filters is close, the answer
says so and shows the nearest jobs labelled as nearest, not as matches.
"""
from __future__ import annotations

import re

import numpy as np

from .gazetteer import fold

LEXICAL_WEIGHT = 0.2
LEXICAL_POOL = 50
MIN_CLOSE_SIMILARITY = 0.3
CLOSE_MARGIN = 0.2
_WORD = re.compile(r"[a-z0-9][a-z0-9+#&]*")


def normalise(text: str) -> list[str]:
    """Folded words with a plural "s" dropped.

    Example:
        >>> normalise("Senior Engineers, Data & Analytics")
        ['senior', 'engineer', 'data', 'analytic']
    """
    out = []
    for word in _WORD.findall(fold(text)):
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        out.append(word)
    return out


class LexicalIndex:
    """BM25 over the postings of a catalog.

    Example:
        >>> from flatsearch.jobsearch.catalog import JobCatalog
        >>> from flatsearch.jobsearch.corpus import load_bundled_corpus
        >>> from flatsearch.jobsearch.gazetteer import Gazetteer
        >>> catalog = JobCatalog(load_bundled_corpus().head(300), Gazetteer())
        >>> lexical = LexicalIndex(catalog)
        >>> best = lexical.top("account executive", catalog.ids, 1)
        >>> "account" in catalog.records[best[0][0]].posting.title.lower()
        True
    """

    def __init__(self, catalog):
        import bm25s

        self.ids = np.array(catalog.ids, dtype=np.int64)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._order]
        texts = []
        for job_id in self.ids:
            posting = catalog.records[int(job_id)].posting
            texts.append(" ".join(normalise(f"{posting.title} {posting.title} {posting.department} {posting.category}")))
        self._bm25s = bm25s
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
        self.vocabulary = set(self.retriever.vocab_dict) if hasattr(self.retriever, "vocab_dict") else None

    def query_terms(self, text: str) -> list[str]:
        tokens = self._bm25s.tokenize([" ".join(normalise(text))], stopwords="en", show_progress=False, return_ids=False)[0]
        return [t for t in dict.fromkeys(tokens) if t]

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every posting (in ``self.ids`` order) for the text."""
        terms = self.query_terms(text)
        if not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores(terms), dtype=np.float32)

    def top(self, text: str, passing_ids, k: int) -> list[tuple[int, float]]:
        """The k best (id, BM25 score) among ``passing_ids`` with a positive score, best first."""
        scores = self.scores(text)
        wanted = np.asarray(passing_ids, dtype=np.int64).reshape(-1)
        slots = np.searchsorted(self._sorted_ids, wanted)
        inside = slots < len(self._sorted_ids)
        slots, wanted = slots[inside], wanted[inside]
        rows = self._order[slots[self._sorted_ids[slots] == wanted]]
        if not len(rows) or not scores.any():
            return []
        chosen = rows[scores[rows] > 0]
        if not len(chosen):
            return []
        order = chosen[np.argsort(-scores[chosen], kind="stable")[:k]]
        return [(int(self.ids[r]), float(scores[r])) for r in order]

    def title_covers(self, text: str, title: str, terms: set[str] | None = None) -> bool:
        """Whether the title holds every content word of the text (after normalisation)."""
        terms = set(self.query_terms(text)) if terms is None else terms
        return bool(terms) and terms <= set(normalise(title))


def fuse(ranked: list, lexical_scores: dict[int, float]) -> list:
    """Candidates re-ordered by ``score + LEXICAL_WEIGHT * bm25 / max bm25`` (ties by id), with ``score`` set to that."""
    from dataclasses import replace

    if not ranked:
        return []
    top = max((lexical_scores.get(c.id, 0.0) for c in ranked), default=0.0)
    fused = [replace(c, score=float(c.score) + (LEXICAL_WEIGHT * lexical_scores.get(c.id, 0.0) / top if top > 0 else 0.0)) for c in ranked]
    return sorted(fused, key=lambda c: (-c.score, c.id))


def close_threshold(best_similarity: float) -> float:
    """The similarity a job needs to count as a close match, given the best similarity in the corpus."""
    return max(MIN_CLOSE_SIMILARITY, best_similarity - CLOSE_MARGIN)


def split_close(ranked: list, semantic_vector: np.ndarray, best_similarity: float, lexical: LexicalIndex, semantic_text: str):
    """(close matches, the rest) in ranked order: see the module's floor rule."""
    threshold = close_threshold(best_similarity)
    terms = set(lexical.query_terms(semantic_text))
    close, rest = [], []
    for candidate in ranked:
        similarity = float(candidate.vector @ semantic_vector)
        if similarity >= threshold or lexical.title_covers(semantic_text, candidate.record.posting.title, terms):
            close.append(candidate)
        else:
            rest.append(candidate)
    return close, rest


def floor_message(semantic_text: str, shown: int, threshold: float) -> str:
    """What to say when nothing passing the filters is close to the query."""
    return (f"No close matches for \"{semantic_text[:80]}\" pass every filter (none reaches similarity {threshold:.2f} or has every "
            f"query word in its title); the {shown} nearest are shown, labelled as nearest. See the suggestions for which filter to relax.")
