"""BM25 retrieval under a filter, the fusion rule and the closeness floor."""
from dataclasses import dataclass

import numpy as np
import pytest

from flatsearch.jobsearch.lexical import LEXICAL_WEIGHT, LexicalIndex, close_threshold, fuse, normalise, split_close


@pytest.fixture(scope="module")
def lexical(catalog):
    return LexicalIndex(catalog)


def test_top_matches_only_passing_ids_and_finds_exact_titles(lexical, catalog):
    ids = catalog.ids
    hits = lexical.top("software engineer", ids, 5)
    assert hits and all("engineer" in normalise(catalog.records[i].posting.title) for i, _ in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    allowed = ids[::3]
    assert {i for i, _ in lexical.top("software engineer", allowed, 50)} <= set(allowed)
    assert lexical.top("zzzqqq", ids, 5) == [] and lexical.top("software engineer", [], 5) == []


def test_scores_agree_with_a_brute_force_count(lexical, catalog):
    # Every job with a positive BM25 score shares a word with the query, and every job sharing one has a positive score.
    scores = lexical.scores("nurse practitioner")
    for row, job_id in enumerate(lexical.ids):
        posting = catalog.records[int(job_id)].posting
        words = set(normalise(f"{posting.title} {posting.department} {posting.category}"))
        assert (scores[row] > 0) == bool(words & {"nurse", "practitioner"})


@dataclass(frozen=True)
class _C:
    id: int
    score: float
    vector: np.ndarray = None
    record: object = None


def test_fusion_rule_is_the_documented_weighted_sum():
    ranked = [_C(1, 0.50), _C(2, 0.45), _C(3, 0.40)]
    fused = fuse(ranked, {3: 4.0, 2: 2.0})
    assert [c.id for c in fused] == [3, 2, 1]
    assert fused[0].score == pytest.approx(0.40 + LEXICAL_WEIGHT) and fused[1].score == pytest.approx(0.45 + LEXICAL_WEIGHT / 2)
    assert [c.score for c in fuse(ranked, {})] == [0.50, 0.45, 0.40]


def test_floor_separates_close_from_nearest(lexical, catalog):
    record = catalog.records[catalog.ids[0]]
    vector = np.array([1.0, 0.0], dtype=np.float32)
    near, far = _C(1, 0.0, np.array([0.9, 0.1], np.float32), record), _C(2, 0.0, np.array([0.2, 0.9], np.float32), record)
    close, rest = split_close([near, far], vector, 0.95, lexical, "qqqzzz")
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    assert close_threshold(0.95) == pytest.approx(0.75) and close_threshold(0.2) == pytest.approx(0.3)


def test_cached_index_loads_the_same_scores_and_is_keyed_by_the_postings(catalog, tmp_path):
    built = LexicalIndex(catalog, cache_dir=tmp_path).ready()
    saved = sorted(p.name for p in built.path.iterdir())
    assert built.path.is_dir() and any(name.endswith(".npy") for name in saved) and "vocab.index.json" in saved
    for name in saved:  # data only: every array opens without pickle
        if name.endswith(".npy"):
            np.load(built.path / name, allow_pickle=False)
    loaded = LexicalIndex(catalog, cache_dir=tmp_path).ready()
    assert loaded.key == built.key
    for text in ("software engineer", "marketing manager", "zzzqqq"):
        np.testing.assert_array_equal(loaded.scores(text), built.scores(text))
    assert LexicalIndex(catalog).scores("software engineer").tolist() == built.scores("software engineer").tolist()
    from flatsearch.jobsearch.catalog import JobCatalog
    from flatsearch.jobsearch.corpus import Corpus

    fewer = JobCatalog(Corpus(catalog.corpus.postings[:-1], "fewer", catalog.corpus.reference_time), catalog.gazetteer)
    assert LexicalIndex(fewer, cache_dir=tmp_path).key != built.key


def test_an_unreadable_cache_is_rebuilt(catalog, tmp_path):
    path = LexicalIndex(catalog, cache_dir=tmp_path).ready().path
    (path / "params.index.json").write_text("{not json", encoding="utf-8")
    rebuilt = LexicalIndex(catalog, cache_dir=tmp_path).ready()
    assert rebuilt.top("software engineer", catalog.ids, 3)


def test_title_covering_reads_abbreviations_and_alternatives(lexical):
    text = "QA quality assurance engineer or SRE site reliability engineer"
    assert lexical.title_covers(text, "QA Automation Engineer")
    assert lexical.title_covers(text, "Quality Assurance Engineer II")
    assert lexical.title_covers(text, "Site Reliability Engineer")
    assert not lexical.title_covers(text, "Supplier Quality Engineer")
    assert not lexical.title_covers(text, "Senior Software Engineer")


def test_a_compound_role_needs_its_distinctive_word(lexical, catalog):
    def record_with(words, without=()):
        for job_id in catalog.ids:
            record = catalog.records[job_id]
            held = set(normalise(f"{record.posting.title} {record.posting.department} {record.posting.category}"))
            if set(words) <= held and not held & set(without):
                return record
        pytest.skip(f"no posting with {words} in the test slice")

    text = "marketing manager"
    assert lexical.document_share("marketing") <= 0.1 < lexical.document_share("manager") or pytest.skip("shares differ here")
    on, off = record_with(["marketing"]), record_with(["manager"], without=["marketing"])
    vector = np.array([1.0, 0.0], dtype=np.float32)
    # Both sit between the plain bar (best - CLOSE_MARGIN) and the strict one (best - STRICT_MARGIN).
    middle = np.array([0.62, 0.78], dtype=np.float32)
    close, rest = split_close([_C(1, 0.0, middle, on), _C(2, 0.0, middle, off)], vector, 0.8, lexical, text)
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # A query of one kind of word only keeps the plain bar.
    close, rest = split_close([_C(2, 0.0, middle, off)], vector, 0.8, lexical, "manager")
    assert [c.id for c in close] == [2]


def _job(title, department="", category="other"):
    from types import SimpleNamespace

    return SimpleNamespace(posting=SimpleNamespace(title=title, department=department, category=category))


def test_words_are_compared_as_the_index_holds_them(lexical):
    from flatsearch.jobsearch.lexical import terms

    assert terms("FP&A Analysts") == ["fp", "analyst"]
    text = "FP&A financial planning and analysis analyst"
    assert lexical.title_covers(text, "Senior FP&A Analyst")  # the abbreviation meets its slot ...
    assert lexical.title_covers(text, "Financial Planning and Analysis Analyst")  # ... and so does its expansion
    assert not lexical.title_covers(text, "Financial Analyst, Tax")  # a part of the expansion is not the slot


@pytest.mark.parametrize("text, named, unnamed", [
    ("finance", _job("Finance Manager", "Finance", "finance"), _job("Technical Program Manager, Reconciliation", "Engineering", "product")),
    ("engineering", _job("Backend Developer", "Engineering", "engineering"), _job("Product Design Lead", "Product Design")),
    ("marketing", _job("Partner Marketing Manager"), _job("Manager, SMB Sales", "Sales", "sales")),
    ("HRBP human resources business partner", _job("People Partner", "People", "people"),
     _job("Director of Business Development", "Partnerships", "sales")),
])
def test_a_job_naming_no_part_of_the_query_needs_the_strict_bar_when_another_names_all(lexical, text, named, unnamed):
    vector = np.array([1.0, 0.0], dtype=np.float32)
    middle = np.array([0.62, 0.78], dtype=np.float32)  # between best - CLOSE_MARGIN and best - STRICT_MARGIN for best 0.8
    close, rest = split_close([_C(1, 0.0, middle, named), _C(2, 0.0, middle, unnamed)], vector, 0.8, lexical, text)
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # With nothing naming the query among the candidates, the plain bar holds.
    close, _ = split_close([_C(2, 0.0, middle, unnamed)], vector, 0.8, lexical, text)
    assert [c.id for c in close] == [2]
    # Similar enough on its own, it stays close.
    close, _ = split_close([_C(1, 0.0, middle, named), _C(2, 0.0, np.array([0.7, 0.71], np.float32), unnamed)], vector, 0.8, lexical, text)
    assert [c.id for c in close] == [1, 2]


@pytest.mark.parametrize("text, part, other", [
    ("solving puzzles and writing code", _job("Puzzle Assistant", "Games"), _job("Backend Developer", "Platform", "engineering")),
    ("cybersecurity analyst", _job("Deal Desk Analyst", "Finance", "sales"), _job("Security Engineer, Threat Detection", "Security")),
])
def test_a_job_naming_part_of_the_query_does_not_raise_the_bar_for_the_rest(lexical, text, part, other):
    vector = np.array([1.0, 0.0], dtype=np.float32)
    middle = np.array([0.62, 0.78], dtype=np.float32)
    close, _ = split_close([_C(1, 0.0, middle, part), _C(2, 0.0, middle, other)], vector, 0.8, lexical, text)
    assert [c.id for c in close] == [1, 2]


def test_a_role_family_meets_its_slot_in_the_title_only(lexical):
    assert lexical.title_covers("accountant", "Accounting Analyst") and lexical.title_covers("recruiter", "Recruiting Coordinator")
    assert not lexical.title_covers("accountant", "Account Executive, Enterprise")  # a shared stem is not the family
    vector = np.array([1.0, 0.0], dtype=np.float32)
    middle = np.array([0.62, 0.78], dtype=np.float32)
    in_title, in_department = _job("Senior Accounting Analyst", "Finance"), _job("Payroll Systems Engineer", "Finance & Accounting")
    close, rest = split_close([_C(1, 0.0, np.array([0.0, 1.0], np.float32), in_title), _C(2, 0.0, np.array([0.0, 1.0], np.float32), in_department)],
                              vector, 0.8, lexical, "accountant")
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # A job that names nothing of "accountant" needs the stricter bar when an accounting title is there.
    close, _ = split_close([_C(1, 0.0, middle, in_title), _C(3, 0.0, middle, _job("Account Executive", "Sales", "sales"))], vector, 0.8,
                           lexical, "accountant")
    assert [c.id for c in close] == [1]


def test_a_role_that_exists_elsewhere_keeps_jobs_naming_none_of_it_out(catalog):
    lexical = LexicalIndex(catalog)
    text = "ux (user experience) researcher"
    vector = np.array([1.0, 0.0], dtype=np.float32)
    similar = np.array([0.55, 0.835], dtype=np.float32)  # above best - CLOSE_MARGIN, below best - NAMELESS_MARGIN (best 0.65)
    part, none = _C(1, 0.0, similar, _job("Staff UX Designer")), _C(2, 0.0, similar, _job("Backend Engineer, Patient Experience"))
    elsewhere = _job("UX Researcher").posting
    close, rest = split_close([part, none], vector, 0.65, lexical, text, best_posting=elsewhere)
    assert [c.id for c in close] == [1] and [c.id for c in rest] == [2]
    # Without knowing that the role exists (or when the nearest posting anywhere is no such role), the plain bar holds.
    assert len(split_close([part, none], vector, 0.65, lexical, text)[0]) == 2
    assert len(split_close([part, none], vector, 0.65, lexical, text, best_posting=_job("Product Designer").posting)[0]) == 2


def test_the_share_reads_an_expansion_as_its_phrase_and_the_floor_as_its_words(lexical):
    from types import SimpleNamespace as Posting

    product = Posting(title="Senior Product Manager, Events", department="", category="")
    program = Posting(title="Sr. Program Manager, Product Operations & Product Marketing", department="", category="")
    shares = lexical.slot_shares("sr (senior) pm (product manager)", {1: product, 2: program})
    assert shares[1] == 1.0 and shares[2] == 0.5  # "senior" only: the program manager holds both words, not the phrase
    assert lexical.title_covers("pm (product manager)", program.title)  # the floor still reads the words in any order


def test_a_title_written_role_last_meets_the_phrase(lexical):
    from types import SimpleNamespace as Posting

    shares = lexical.slot_shares("sre (site reliability engineer)", {1: Posting(title="Engineer, Site Reliability", department="", category="")})
    assert shares[1] == 1.0


def test_the_index_cache_is_keyed_by_what_fold_does(monkeypatch):
    # normalise() folds every word: an index built by another fold() ('ß' left to NFKD, which drops it) is never loaded.
    import flatsearch.jobsearch.gazetteer as gazetteer
    from flatsearch.jobsearch.lexical import _cache_key

    from types import SimpleNamespace

    postings = [SimpleNamespace(id="1", title="Straßenbau Ingenieur", department="", category="")]
    key = _cache_key(postings)
    table = dict(gazetteer._UNDECOMPOSED)
    del table[ord("ß")]
    monkeypatch.setattr(gazetteer, "_UNDECOMPOSED", table)
    assert normalise("Straße") != ["strasse"]
    assert _cache_key(postings) != key
