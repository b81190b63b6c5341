"""Lexical retrieval beside the dense index, the fusion rule, and the honest relevance floor.

**Index.** A BM25 index (bm25s, Lucene-style BM25 with k1=1.5, b=0.75) over each posting's title
(written twice, so title words weigh more than the rest), department and category. Words are folded to
lower-case ASCII and plural "s" is dropped ("engineers" matches "Engineer"); English stop words are
left out. The query side is the plan's semantic text, where abbreviations are already spelled out
("SWE (software engineer)"), so both "SWE" in a title and "Software Engineer" match.

**Candidates.** Besides the dense top-k, the ``LEXICAL_POOL`` best BM25 matches *among the jobs that pass
the plan's strict filters* join the pool, so an exact title is found even when its embedding ranks low.

**Fusion (documented rule, used unchanged for ranking).** With the default reranker (the documented
score of :mod:`~flatsearch.jobsearch.scoring`) each candidate's final score is

    final = reranker score + LEXICAL_WEIGHT * share(job) * bm25(job) / max bm25 over the candidates

(0 when no candidate shares a word with the query), where ``share`` is the fraction of the query's slots
(see *Floor* below: an abbreviation and its expansion are one slot) that the job's indexed words meet, in
its best alternative; here an expansion is met only as the phrase it is, its words next to each other in one
field ("PM" is a "Product Manager", not a "Program Manager, Product Marketing" title that holds both words). With ``LEXICAL_WEIGHT`` = 0.2 a job whose title has every query word gains up to as
much as a 0.2 higher cosine similarity; one that has a single rare word of a three-word query ("Systems
Engineer, Sensing" for "remote sensing analyst") gains a third of its BM25 part, so one rare word does
not outweigh the meaning of the whole query. An installed cross-encoder
reranker reads the query and posting words itself, so its grades are kept as they are.

**Floor.** A job is a *close match* when its cosine similarity to the semantic text is at least
``max(MIN_CLOSE_SIMILARITY, best - CLOSE_MARGIN)``, where ``best`` is the highest similarity of any
job in the corpus, filters or not, or when its title with its department and the posting's category (a
"Business Development Representative" in "Sales" is a sales job) *covers* the query. Covering reads the semantic
text as the planner wrote it: alternatives joined by "or" (any one may be covered), and in each an
abbreviation with its expansion ("QA quality assurance") as one slot met by either form; every other
content word is a slot of its own, met also by a *title* word of its role family (``data/word_families.json``:
"accounting" for "accountant", never the shorter "account"). So "QA Automation Engineer" covers "QA quality
assurance engineer" and "Accounting Analyst" covers "accountant".

One more rule keeps a compound role from matching its generic half. A query word is *distinctive*
when at most ``DISTINCTIVE_SHARE`` of the postings hold it (in the indexed fields), else *generic*
("engineer", "manager", "sales", "senior"). When the query has both kinds ("data engineer") and some
candidate holds a distinctive word, a candidate holding none of them is close only at similarity
``max(MIN_CLOSE_SIMILARITY, best - STRICT_MARGIN)`` or by covering: a security engineer is not a close
match for "data engineer" when data postings pass the filters. The same stricter bar applies to a
candidate whose title, department and category meet *no* slot of the query while some candidate meets
``NAMED_SHARE`` (all) of one alternative's slots: for "engineering" where engineering postings pass
the filters, a product designer is close only when its similarity alone reaches the stricter bar; for
"HRBP" a business-development director (who holds "business", a part of the expansion, which is not its
slot) is not close when an "HR Business Partner" or "People Partner" is there. A job naming part of the
query does not raise the bar: "Deal Desk Analyst" names half of "cybersecurity analyst", and the
security engineers beside it stay close by similarity; nor does one word of a vague query of many slots. When the
corpus's nearest posting to the semantic text (filters or not) covers a query whose first alternative is short (at most
``NAMELESS_SLOTS`` slots: the role exists somewhere) and some candidate names part of the query, a candidate naming none of
it is close only at ``best - NAMELESS_MARGIN``: for "ux researcher" in a city without one, the UX designers there stay
close and a "Patient Experience" engineer, as similar to the words, does not; for "HRBP or talent acq" in Chicago, a talent
partner in People is close and the account executives there, more similar to the words than it is, are not. An "or" does not
lift the rule: a job naming neither alternative is no nearer to either. A role *phrase* (an alternative of two words,
``PHRASE_WORDS``, or an abbreviation with its expansion; longer ones are written in too many orders: "Software Engineer,
Machine Learning") that the titles of at least ``PHRASE_MIN_TITLES`` candidates name as written
(its neighbouring words next to each other, link words such as "of" left out, words of one role family alike --
"Data Science" names "data scientist" -- also in a title written role last: "Engineer, Data") holds every other candidate to the strict similarity bar, whatever words it shares: for "product manager"
where product managers pass the filters, a "Product Marketing Manager" is not close, nor a "Brand Marketing Manager" in
a product department; for "PM" a title saying "PM" or "Product Manager" is close. Words are compared as the index holds them
(:func:`terms`), so "FP&A" in a title meets the query's "FP&A" slot as its expansion does.

Two more readings of the words. A role *written out* that the abbreviation table gives other titles for ("HR business
partner", "human resources business partner", "talent acquisition") is also one extra alternative of one slot, met by
the abbreviation, its expansion or those titles ("HRBP", "People Partner"; "Recruiter"), as when the query says "HRBP" or
"TA" (:func:`_written_roles`); an extra alternative only adds ways to meet the query. And a query word that the
employer's name of *every* candidate holds ("stripe backend" under a filter to Stripe) names the employer, not the work:
its slot is left out of the floor and of the shares that weigh the BM25 part (:func:`_without_employer`), so "Stripe" in
a "Product Manager, Stripe Infrastructure" title neither ranks it above the backend engineers nor counts as naming the query.

*Why the bar stays relative to the corpus's best, and the words decide the rest.* For a place- or company-filtered
search the corpus's best similarity is often a posting the filters exclude, so every job that passes may sit more than
``CLOSE_MARGIN`` below it. Lowering or capping the bar there was measured and rejected: over the evaluation sets, among
the 30 nearest candidates of each topic query, the jobs that hold no query word were on topic (by the evaluation's topic
patterns) only about half the time at every distance from the best (0.48-0.57 between 0.1 and 0.2 below it, 0.47 at
0.2-0.25), while those whose title holds a distinctive query word were on topic 0.83-0.92 of the time at the same
distances; a cap of the bar at 0.5 or 0.55 let in a product designer for "product manager" and an account executive for
"accounting". So similarity alone keeps its bar, and a job that the filters leave below it is close only by naming the
role (covering it, here also by one of its other titles): "HR business partner" in the DMV shows its "People Partner" as
a close match, "nurse" in a city without nurses says none is close. The rules added for this read words and add no new
similarity bar, so a change of the int8 preset (:mod:`.embedding`), which moves similarities by hundredths, moves them
little. When no job passing the filters is close, the answer says so and shows the nearest jobs labelled as nearest, not
as matches.

The weights were chosen by measurement on both evaluation sets (``benchmarks/jobsearch_eval.py``):
the weighted sum at 0.1-0.4 and reciprocal-rank fusion (k = 10, 30, 60) left the share of
irrelevant top-3 answers within one query of each other; the floor rules above moved it.

**Cache.** The index is saved with bm25s's own format (NumPy ``.npy`` arrays written without pickle,
and JSON for the vocabulary and parameters) under ``<cache_dir>/bm25-<key>``, the key hashing the
indexed fields of every posting, the normalisation version and the bm25s version. ``import bm25s``
(which pulls in scipy and numba) and the load or build run on a background thread started by the
constructor, which returns at once; the first lexical call waits for it. Postings added at run time
(:mod:`.churn`) are found by the dense scan; they are not in the BM25 index, which only scores the
postings it was built from (removed ones never pass the filters, so they are never returned).
"""
from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import re
import shutil
import tempfile
import threading
from functools import lru_cache

import numpy as np

from .gazetteer import fold, fold_fingerprint
from .lexicon import abbreviations, other_titles, word_families

logger = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.2
LEXICAL_POOL = 50
MIN_CLOSE_SIMILARITY = 0.3
CLOSE_MARGIN = 0.2
STRICT_MARGIN = 0.15
DISTINCTIVE_SHARE = 0.1
TITLE_MARK = "~"  # marks a title word in a posting's word set (a role family matches titles only)
PAIR_MARK = "+"  # joins two neighbouring words in a word set (an expansion is a phrase); no index term holds it
NAMELESS_SLOTS = 2  # a query of at most this many slots ("ux researcher") names a role a job either names part of or not
NAMELESS_MARGIN = 0.05
PHRASE_MIN_TITLES = 3  # candidates whose titles name a role phrase as written, for the phrase rule of the floor
PHRASE_WORDS = 2  # a role phrase is two words ("product manager"); titles write longer ones in too many orders
NAMED_SHARE = 1.0  # half (0.5) also raised the bar when a job named only the generic half ('Deal Desk Analyst' for 'cybersecurity analyst')
NORMALISATION_VERSION = 2  # bump when normalise() or the indexed fields change: it keys the cache (fold() is keyed by its fingerprint)
_WORD = re.compile(r"[a-z0-9][a-z0-9+#&]*")
_ALTERNATIVES = re.compile(r"\s+or\s+|\s*/\s*", re.IGNORECASE)
_TERM = re.compile(r"\w\w+")  # bm25s's own token pattern: "fp&a" is indexed and queried as "fp"


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


def terms(text: str) -> list[str]:
    """The words of a text as the BM25 index holds them: :func:`normalise`, then bm25s's token pattern
    (two or more word characters), so a title's "FP&A" meets the query term "fp" that the index reads.

    Example:
        >>> terms("Financial Planning & Analysis (FP&A) Analysts")
        ['financial', 'planning', 'analysis', 'fp', 'analyst']
    """
    return [piece for word in normalise(text) for piece in _TERM.findall(word)]


@lru_cache(maxsize=1)
def _expansions() -> dict[str, tuple[str, ...]]:
    """Abbreviation (as an index term) -> its expansion words (index terms)."""
    table, _ = abbreviations()
    out = {}
    for key, expansion in table.items():
        word = terms(key)
        if len(word) == 1:
            out[word[0]] = tuple(terms(expansion))
    return out


@lru_cache(maxsize=1)
def _also() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Normalised abbreviation -> other titles for the same role (normalised words), from the table's ``also``."""
    out = {}
    for key, titles in other_titles().items():
        word = terms(key)
        if len(word) == 1:
            out[word[0]] = tuple(tuple(terms(title)) for title in titles)
    return out


@lru_cache(maxsize=1)
def _families() -> dict[str, tuple[str, ...]]:
    """Index term -> the other terms of its role family as title words ("accountant" -> "~accounting"; see :func:`_words`)."""
    out: dict[str, tuple[str, ...]] = {}
    for group in word_families():
        words = [w for word in group for w in terms(word)[:1]]
        for word in words:
            out[word] = tuple(TITLE_MARK + w for w in words if w != word)
    return out


def _pairs(words: list[str]) -> set[str]:
    """Each two neighbouring words joined by ``PAIR_MARK``: how a text meets a phrase (see :func:`_phrase`).

    Example:
        >>> sorted(_pairs(["senior", "product", "manager"]))
        ['product+manager', 'senior+product']
    """
    return {a + PAIR_MARK + b for a, b in zip(words, words[1:])}


def _phrase(words: tuple[str, ...]) -> tuple[str, ...]:
    """An expansion of two or more words as the neighbouring pairs a text must hold: "PM" stands for the phrase
    "product manager", which a "Program Manager, Product Marketing" title holds only as separate words.

    Example:
        >>> _phrase(("product", "manager")), _phrase(("engineer",))
        (('product+manager',), ('engineer',))
    """
    return tuple(sorted(_pairs(list(words)))) if len(words) > 1 else words


def _inverted(title: str) -> list[str]:
    """A title written role last ("Engineer, Site Reliability") as a seeker says it ("Site Reliability Engineer"): the part
    after the first comma, up to a dash or bracket, then the part before it; [] for a title without a comma.

    Example:
        >>> _inverted("Engineer, Site Reliability - Payments"), _inverted("Product Manager")
        (['site', 'reliability', 'engineer'], [])
    """
    if "," not in title:
        return []
    head, rest = title.split(",", 1)
    return terms(re.split(r"\s+[-\u2013|(]|[(|/]", rest)[0]) + terms(head)


_LINK_WORDS = frozenset("of and the for in at to on with".split())  # no part of a role phrase ("Head of Marketing": head, marketing)


def _title_phrases(title: str) -> set[str]:
    """A title's words and neighbouring pairs (also as :func:`_inverted` reads it), link words left out and each word as
    its role family's (:func:`_family_key`): what a role phrase is met by (:meth:`LexicalIndex.phrase_groups`).

    Example:
        >>> sorted(_title_phrases("Engineer, Data Platform"))
        ['data', 'data+platform', 'engineer', 'engineer+data', 'platform', 'platform+engineer']
    """
    bare = re.sub(r"\([^()]*\)", " ", title)  # "Machine Learning (ML) Engineer"
    out: set[str] = set()
    for text in {title, bare}:
        words = [_family_key(w) for w in terms(text) if w not in _LINK_WORDS]
        inverted = [_family_key(w) for w in _inverted(text) if w not in _LINK_WORDS]
        out.update(words, _pairs(words), _pairs(inverted))
    return out


def names_phrase(groups: list[tuple[str, ...]], title: str) -> bool:
    """Whether a title names one of the role phrases of :meth:`LexicalIndex.phrase_groups` as written.

    Example:
        >>> groups = [("product+manager",)]
        >>> names_phrase(groups, "Senior Product Manager, Growth"), names_phrase(groups, "Product Marketing Manager")
        (True, False)
    """
    named = _title_phrases(title)
    return any(set(group) <= named for group in groups)


@lru_cache(maxsize=1)
def _family_keys() -> dict[str, str]:
    """Index term -> the first term of its role family (``data/word_families.json``): "science" -> "scientist"."""
    out: dict[str, str] = {}
    for group in word_families():
        words = [w for word in group for w in terms(word)[:1]]
        for word in words:
            out.setdefault(word, words[0])
    return out


def _family_key(term: str) -> str:
    """A term as a role phrase reads it: one word for a role family ("Data Science" names the phrase "data scientist")."""
    return _family_keys().get(term, term)


def _words(posting) -> set[str]:
    """A posting's words for the floor and the slot shares: title, department and category, plus each title word
    marked with ``TITLE_MARK``, plus the neighbouring pairs of the title (also as :func:`_inverted` reads it) and of the
    department and category (for expansions, which are phrases). A role family meets a slot
    only in the title: "Finance & Accounting" departments hold every kind of job, an accounting title is accounting.
    """
    title = terms(posting.title)
    rest = terms(f"{posting.department} {posting.category}")
    return {*title, *rest, *(TITLE_MARK + w for w in title), *_pairs(title), *_pairs(_inverted(posting.title)),
            *_pairs(terms(posting.department)), *_pairs(terms(posting.category))}


def _indexed_text(posting) -> str:
    return f"{posting.title} {posting.title} {posting.department} {posting.category}"


class LexicalIndex:
    """BM25 over the postings of a catalog, cached under ``cache_dir`` when one is given.

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

    def __init__(self, catalog, *, cache_dir: str | os.PathLike | None = None):
        self.ids = np.array(catalog.ids, dtype=np.int64)
        self._order = np.argsort(self.ids, kind="stable")
        self._sorted_ids = self.ids[self._order]
        postings = [catalog.records[int(job_id)].posting for job_id in self.ids]
        self.key = _cache_key(postings)
        self.path = pathlib.Path(cache_dir) / f"bm25-{self.key}" if cache_dir is not None else None
        self._bm25s = self.retriever = self._document_frequency = None
        self._error: BaseException | None = None
        self._loader = threading.Thread(target=self._load_or_build, args=(postings,), name="load-bm25", daemon=True)
        self._loader.start()

    def _load_or_build(self, postings) -> None:
        try:
            import bm25s

            # bm25s sets its own logger to DEBUG on import, so an application that shows debug records of any library
            # printed "Building index from IDs objects" on stderr at every build; its warnings still come through.
            bm25s_logger = logging.getLogger("bm25s")
            if bm25s_logger.level == logging.DEBUG:
                bm25s_logger.setLevel(logging.WARNING)
            retriever = None
            if self.path is not None and self.path.is_dir():
                try:
                    retriever = bm25s.BM25.load(str(self.path), allow_pickle=False, show_progress=False)
                    if int(retriever.scores["num_docs"]) != len(postings):
                        raise ValueError(f"holds {retriever.scores['num_docs']} postings, expected {len(postings)}")
                except (ValueError, KeyError, OSError, TypeError) as error:
                    logger.warning("cached BM25 index %s is unreadable (%s); rebuilding it", self.path, error)
                    retriever = None
            if retriever is None:
                texts = [" ".join(normalise(_indexed_text(p))) for p in postings]
                retriever = bm25s.BM25()
                retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
                if self.path is not None:
                    self._save(retriever)
            pointers = np.asarray(retriever.scores["indptr"])
            self._document_frequency = {term: int(pointers[i + 1] - pointers[i]) for term, i in retriever.vocab_dict.items()
                                        if i + 1 < len(pointers)}  # bm25s keeps an empty token without a column
            self._bm25s, self.retriever = bm25s, retriever
        except BaseException as error:  # noqa: BLE001 - re-raised on the first use, where the caller handles it
            self._error = error

    def _save(self, retriever) -> None:
        """Write the index next to its final place and rename it there, so a reader never sees half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = pathlib.Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}-"))
        try:
            retriever.save(str(staging), allow_pickle=False, show_progress=False)
            os.replace(staging, self.path)
        except OSError as error:
            if not self.path.is_dir():  # another process saving the same index first is fine
                logger.warning("could not cache the BM25 index at %s (%s)", self.path, error)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def ready(self) -> "LexicalIndex":
        """Wait for the background load or build; re-raise its error."""
        self._loader.join()
        if self._error is not None:
            raise self._error
        return self

    @property
    def vocabulary(self) -> set[str]:
        return set(self.ready().retriever.vocab_dict)

    def query_terms(self, text: str) -> list[str]:
        """The normalised content words of a query text, as the index reads them."""
        return list(self._query_terms(text))

    @lru_cache(maxsize=4096)  # noqa: B019 - one index per process; bm25s's tokenizer costs milliseconds a call
    def _query_terms(self, text: str) -> tuple[str, ...]:
        bm25s = self.ready()._bm25s
        tokens = bm25s.tokenize([" ".join(normalise(text))], stopwords="en", show_progress=False, return_ids=False)[0]
        return tuple(t for t in dict.fromkeys(tokens) if t)

    def document_share(self, term: str) -> float:
        """The share of indexed postings that hold this (normalised) word."""
        return self.ready()._document_frequency.get(term, 0) / max(len(self.ids), 1)

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

    def coverage(self, text: str, *, phrases: bool = False) -> list[list[set[str]]]:
        """The query's alternatives, each a list of slots (sets of word groups; see the module's floor rule).
        ``phrases``: an expansion is met only as the phrase it is (its neighbouring pairs, :func:`_phrase`), as the slot
        shares that weigh the BM25 part read it; the floor reads its words in any order and field.

        Example:
            >>> lexical = LexicalIndex.__new__(LexicalIndex)
            >>> lexical.query_terms = lambda t: [w for w in normalise(t) if w not in {"or", "in"}]
            >>> [[sorted(slot) for slot in slots] for slots in lexical.coverage("QA quality assurance engineer")]
            [[[('qa',), ('quality', 'assurance')], [('engineer',), ('~engineering',)]]]
            >>> [sorted(slot) for slot in lexical.coverage("QA quality assurance engineer", phrases=True)[0]][0]
            [('qa',), ('quality+assurance',)]
        """
        expansions = _expansions()
        alternatives = []
        for part in _ALTERNATIVES.split(text):
            words = self.query_terms(part)
            used, slots = set(), []
            for word in words:
                if word in expansions:
                    expansion = tuple(w for w in expansions[word] if w in words) or expansions[word]
                    group = _phrase if phrases else tuple
                    slots.append({(word,), group(expansion), *(group(title) for title in _also().get(word, ()))})
                    used.update(expansion)
            slots.extend({(word,), *((w,) for w in _families().get(word, ()))} for word in words if word not in used and word not in expansions)
            if slots:
                alternatives.append(slots)
            alternatives.extend(_written_roles(words, slots, phrases=phrases))
        return alternatives

    def slot_shares(self, text: str, postings: dict) -> dict[int, float]:
        """For each (id -> posting), the largest fraction of one alternative's slots that its indexed words meet.

        Example:
            >>> from types import SimpleNamespace as P
            >>> lexical = LexicalIndex.__new__(LexicalIndex)
            >>> lexical.query_terms = lambda t: [w for w in normalise(t) if w not in {"or", "in"}]
            >>> job = P(title="Systems Engineer, Sensing", department="", category="engineering")
            >>> round(lexical.slot_shares("remote sensing analyst", {7: job})[7], 3)
            0.333
        """
        coverage = _without_employer(self.coverage(text, phrases=True), list(postings.values()))
        out = {}
        for job_id, posting in postings.items():
            words = _words(posting)
            out[job_id] = max((sum(any(set(group) <= words for group in slot) for slot in slots) / len(slots) for slots in coverage),
                              default=1.0)
        return out

    def phrase_groups(self, text: str) -> list[tuple[str, ...]]:
        """The ways a title can name the role phrase of the text (see the module's floor rule): for each alternative of
        ``PHRASE_WORDS`` words, its pair, or an abbreviation alone and its expansion as a phrase; [] when an alternative
        has another number of words or mixes an abbreviation with other words (no phrase rule then).

        Example:
            >>> lexical = LexicalIndex.__new__(LexicalIndex)
            >>> lexical.query_terms = lambda t: [w for w in normalise(t) if w not in {"or", "in"}]
            >>> lexical.phrase_groups("product manager"), lexical.phrase_groups("PM (product manager)")
            ([('product+manager',)], [('pm',), ('product+manager',)])
            >>> lexical.phrase_groups("nurse"), lexical.phrase_groups("data engineer or nurse")
            ([], [])
        """
        expansions = _expansions()
        groups: list[tuple[str, ...]] = []
        for part in _ALTERNATIVES.split(text):
            words = self.query_terms(part)
            abbreviated = [w for w in words if w in expansions]
            if len(abbreviated) == 1 and set(words) <= {abbreviated[0], *expansions[abbreviated[0]]} and len(expansions[abbreviated[0]]) > 1:
                groups.extend([(abbreviated[0],), _phrase(tuple(_family_key(w) for w in expansions[abbreviated[0]]))])
            elif len(words) == PHRASE_WORDS and not abbreviated:
                groups.append(_phrase(tuple(_family_key(w) for w in words)))
            else:
                return []
        return groups

    def title_covers(self, text: str, title: str, coverage: list | None = None) -> bool:
        """Whether the title meets every slot of one alternative of the text (module docstring, floor rule).

        Example:
            >>> lexical = LexicalIndex.__new__(LexicalIndex)
            >>> lexical.query_terms = lambda t: [w for w in normalise(t) if w not in {"or", "in"}]
            >>> lexical.title_covers("QA quality assurance engineer", "QA Automation Engineer")
            True
            >>> lexical.title_covers("QA quality assurance engineer", "Supplier Quality Engineer")
            False
        """
        words = terms(title)
        return _covers(self.coverage(text) if coverage is None else coverage, {*words, *(TITLE_MARK + w for w in words)})


def _written_roles(words: list[str], slots: list[set], *, phrases: bool) -> list[list[set[str]]]:
    """Extra alternatives for a role written out in words that the abbreviation table gives other titles for: the query
    "HR business partner" (or "human resources business partner") names the role "HRBP", which a "People Partner" title
    also names, as it does when the query says "HRBP". In each, the slots of the role's words (``slots``: the alternative's
    own) give way to one slot met by the abbreviation, its expansion or one of its other titles; the other slots stay
    ("lyft data science": "Lyft" and the role "DS"). Being extra alternatives, they only add ways to meet the query.

    Example:
        >>> own = [{("hr",), ("human", "resource")}, {("business",)}, {("partner",)}]
        >>> [sorted(slot) for slots in _written_roles(["hr", "human", "resource", "business", "partner"], own, phrases=False) for slot in slots]
        [[('hr', 'business', 'partner'), ('hrbp',), ('human', 'resource', 'business', 'partner'), ('people', 'partner')]]
        >>> [len(slots) for slots in _written_roles(["lyft", "data", "science"], [{("lyft",)}, {("data",)}, {("science",)}], phrases=False)]
        [2]
        >>> _written_roles(["hrbp"], [{("hrbp",)}], phrases=False), _written_roles(["partner"], [{("partner",)}], phrases=False)
        ([], [])
    """
    present = set(words)
    out = []
    group = _phrase if phrases else tuple
    for key, titles in _also().items():
        forms = [form for form in (_expansions().get(key, ()), *titles) if form]
        written = {word for form in forms if len(form) > 1 and set(form) <= present for word in form}  # a one-word title is no written-out role
        if key not in present and written:
            rest = [slot for slot in slots if not any(len(words) == 1 and words[0] in written for words in slot)]
            out.append([*rest, {(key,), *(group(form) for form in forms)}])
    return out


@lru_cache(maxsize=4096)
def _employer_terms(name: str) -> frozenset[str]:
    return frozenset(terms(name))


def _without_employer(coverage: list, postings: list) -> list:
    """The coverage without the slots that the employer's name of every one of the postings meets: "stripe backend" under a
    filter to Stripe asks for backend work, and "Stripe" in a "Product Manager, Stripe Infrastructure" title names the
    employer every candidate has, not the work. Two postings at least; an alternative left with no slot is left out.

    Example:
        >>> from types import SimpleNamespace as P
        >>> jobs = [P(company="Stripe, Inc."), P(company="Stripe")]
        >>> _without_employer([[{("stripe",)}, {("backend",)}]], jobs), _without_employer([[{("stripe",)}]], jobs[:1])
        ([[{('backend',)}]], [[{('stripe',)}]])
    """
    if len(postings) < 2:
        return coverage
    common = frozenset.intersection(*(_employer_terms(getattr(posting, "company", "") or "") for posting in postings))
    if not common:
        return coverage
    kept = [[slot for slot in slots if not any(set(group) <= common for group in slot)] for slots in coverage]
    return [slots for slots in kept if slots]


def _covers(coverage: list, words: set[str]) -> bool:
    return any(all(any(set(group) <= words for group in slot) for slot in slots) for slots in coverage)


def _met_share(coverage: list, words: set[str]) -> float:
    """The largest fraction of one alternative's slots that the words meet (a part of an expansion is not its slot)."""
    return max((sum(any(set(group) <= words for group in slot) for slot in slots) / len(slots) for slots in coverage), default=0.0)


def _cache_key(postings) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        library = version("bm25s")
    except PackageNotFoundError:
        library = "?"
    digest = hashlib.sha256(f"{NORMALISATION_VERSION}|{fold_fingerprint()}|{library}|{len(postings)}".encode())
    for posting in postings:
        digest.update(f"\x1e{posting.id}\x1f{posting.title}\x1f{posting.department}\x1f{posting.category}".encode())
    return digest.hexdigest()[:16]


def fuse(ranked: list, lexical_scores: dict[int, float], shares: dict[int, float] | None = None) -> list:
    """Candidates re-ordered by ``score + LEXICAL_WEIGHT * share * bm25 / max bm25`` (ties by id), with ``score`` set to that.

    ``shares``: each candidate's share of the query's slots (:meth:`LexicalIndex.slot_shares`; 1 when not given).

    Example:
        >>> from types import SimpleNamespace as C
        >>> [c.id for c in fuse([C(id=1, score=0.5), C(id=2, score=0.48)], {1: 4.0, 2: 2.0}, {1: 1 / 3, 2: 1.0})]
        [2, 1]
    """
    from dataclasses import is_dataclass, replace

    if not ranked:
        return []
    top = max((lexical_scores.get(c.id, 0.0) for c in ranked), default=0.0)
    shares = shares or {}

    def bonus(c) -> float:
        return LEXICAL_WEIGHT * shares.get(c.id, 1.0) * lexical_scores.get(c.id, 0.0) / top if top > 0 else 0.0

    fused = [(replace(c, score=float(c.score) + bonus(c)) if is_dataclass(c) else type(c)(**{**vars(c), "score": float(c.score) + bonus(c)}))
             for c in ranked]
    return sorted(fused, key=lambda c: (-c.score, c.id))


def close_threshold(best_similarity: float) -> float:
    """The similarity a job needs to count as a close match, given the best similarity in the corpus."""
    return max(MIN_CLOSE_SIMILARITY, best_similarity - CLOSE_MARGIN)


def split_close(ranked: list, semantic_vector: np.ndarray, best_similarity: float, lexical: LexicalIndex, semantic_text: str,
                best_posting=None):
    """(close matches, the rest) in ranked order: see the module's floor rule.

    ``best_posting``: the posting of the whole corpus most similar to the semantic text, filters or not (the one
    ``best_similarity`` is of). When its title covers a short query (at most ``NAMELESS_SLOTS`` slots), the role asked
    for exists, and a candidate naming no slot of it while others name one is close only at ``best - NAMELESS_MARGIN``.
    """
    threshold = close_threshold(best_similarity)
    strict = max(MIN_CLOSE_SIMILARITY, best_similarity - STRICT_MARGIN)
    coverage = _without_employer(lexical.coverage(semantic_text), [c.record.posting for c in ranked])
    query_terms = set(lexical.query_terms(semantic_text))
    distinctive = {t for t in query_terms if lexical.document_share(t) <= DISTINCTIVE_SHARE}
    # Each candidate's words (title, department, category) are read once.
    words = [_words(c.record.posting) for c in ranked]
    # The stricter bar applies to a compound role ("data engineer") when some candidate holds its distinctive words,
    # and to a job that names no part of the query when some candidate names at least NAMED_SHARE of it.
    compound = bool(distinctive) and bool(query_terms - distinctive) and any(distinctive & named for named in words)
    shares = [_met_share(coverage, named) for named in words]
    named_enough = any(share >= NAMED_SHARE for share in shares)
    # "ux researcher" under a filter no UX researcher passes: the role exists elsewhere, UX designers here name half of it,
    # and a "Patient Experience" engineer, as similar to the words as they are, names none of it.
    exists = (best_posting is not None and 0 < sum(len(slots) for slots in coverage[:1]) <= NAMELESS_SLOTS
              and _covers(coverage, _words(best_posting)))
    partly_named = exists and any(share > 0 for share in shares)
    nameless = max(MIN_CLOSE_SIMILARITY, best_similarity - NAMELESS_MARGIN)
    # A role phrase that PHRASE_MIN_TITLES candidates' titles name as the phrase it is ("Product Manager") leaves out the
    # candidates whose titles hold its words apart ("Product Marketing Manager", "Brand Manager" in a product department).
    groups = lexical.phrase_groups(semantic_text)
    phrased = [names_phrase(groups, c.record.posting.title) for c in ranked] if groups else []
    phrase_rule = sum(phrased) >= PHRASE_MIN_TITLES
    close, rest = [], []
    for index, (candidate, named, share) in enumerate(zip(ranked, words, shares)):
        similarity = float(candidate.vector @ semantic_vector)
        if phrase_rule and not phrased[index]:
            # Demoted, not dropped: a title that holds the words apart is close only by the strict similarity bar, as
            # "Front End Engineer" or "Software Engineer, Frontend" are for "frontend engineer", and a "Product Marketing
            # Manager" is not for "product manager" (its words alone would make it close).
            (close if similarity >= strict else rest).append(candidate)
            continue
        bar = strict if (named_enough and share == 0) or (compound and not distinctive & named) else threshold
        if partly_named and share == 0:
            bar = max(bar, nameless)
        if similarity >= bar or share == 1:
            close.append(candidate)
        else:
            rest.append(candidate)
    return close, rest


def floor_message(semantic_text: str, shown: int, threshold: float) -> str:
    """What to say when nothing passing the filters is close to the query."""
    return (f"No close matches for \"{semantic_text[:80]}\" pass every filter (none reaches similarity {threshold:.2f} or has every "
            f"query word in its title); the {shown} nearest are shown, labelled as nearest. See the suggestions for which filter to relax.")
