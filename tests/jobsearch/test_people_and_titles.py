import pytest

from flatsearch.jobsearch.members import ConnectionGraph, MemberStore, SampleNetwork, UnknownMemberError, former_colleagues
from flatsearch.jobsearch.seniority import seniority_of
from flatsearch.jobsearch.staffing import StaffingRules


@pytest.mark.parametrize("title, level", [
    ("Software Engineering Intern", "intern"), ("Junior Data Analyst", "junior"), ("Account Executive", "mid"),
    ("Sr. Product Designer", "senior"), ("Principal Engineer", "staff"), ("Engineering Manager", "manager"),
    ("Product Manager", "mid"), ("Director of Marketing", "director"), ("Head of Sales", "director"),
    ("Chief Financial Officer", "executive"),
])
def test_seniority_from_titles(title, level):
    assert seniority_of(title) == level


def test_staffing_rules_and_overrides():
    rules = StaffingRules()
    assert rules.is_staffing("Acme Staffing Partners")
    assert rules.is_staffing("TalentBridge Recruiting")
    assert rules.is_staffing("Randstad")  # override list
    assert not rules.is_staffing("Recruit Holdings")  # override beats the word rule
    assert not rules.is_staffing("Stripe", "stripe.com")
    custom = StaffingRules(overrides={"staffing": ["Globex"], "not_staffing": []})
    assert custom.is_staffing("Globex") and not custom.is_staffing("Initech")


def test_sample_network_implements_both_interfaces(network):
    assert isinstance(network, MemberStore) and isinstance(network, ConnectionGraph)
    assert [m.id for m in network.all()] == ["m001", "m002", "m003", "m004", "m005", "m006"]
    member = network.get("m002")
    colleagues = former_colleagues(member, network)
    assert {p.current_employer for p in colleagues} == {"Stripe", "Samsara", "KoBold Metals", "Delivery Hero", "Waymo", "Mozilla"}
    assert all(p.employers() & member.employers() for p in colleagues)
    everyone = {p.current_employer for p in network.connections("m002")}
    assert {"Airbnb", "Spotify"} <= everyone - {p.current_employer for p in colleagues}
    assert "marketing" in member.profile_text().lower()


def test_unknown_member_is_a_clear_key_error(network):
    with pytest.raises(UnknownMemberError, match="unknown member 'm999'; known members are m001"):
        network.get("m999")
    with pytest.raises(KeyError):
        network.connections("m999")
    with pytest.raises(TypeError, match="member_id: expected a string"):
        network.get(7)


def test_bad_connection_data_is_rejected():
    with pytest.raises(ValueError, match="names an unknown person"):
        SampleNetwork({"members": [], "people": [{"id": "p1", "name": "A"}], "connections": [["p1", "p2"]]})
