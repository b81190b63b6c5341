import datetime as dt
import json
import logging
import socket

import pytest

from flatsearch.jobsearch.planner_llm import LLMPlanner

from .llm_stub import StubLLM, tool_call

NOW = dt.datetime(2026, 1, 10, 22, 52, 24, tzinfo=dt.timezone.utc)


def scripted(body):
    """Resolve "Seattle" with the location tool, look at the member's network, then submit a plan."""
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    if not tool_messages:
        return tool_call("resolve_location", {"name": "Seattle"})
    if len(tool_messages) == 1:
        return tool_call("graph_lookup", {"relation": "worked_with"}, call_id="call_2")
    places = json.loads(tool_messages[0]["content"])["places"][0]["ids"]
    companies = [c["id"] for c in json.loads(tool_messages[1]["content"])["companies"]]
    return tool_call("submit_plan", {"intent": "job_search", "semantic_text": "marketing",
                                     "clauses": [{"phrase": "in Seattle", "meaning": "located in Seattle", "filter": {"geo": {"in": places}}},
                                                 {"phrase": "with former colleagues", "meaning": "where colleagues work",
                                                  "filter": {"company": {"in": companies}}, "soft": True}]}, call_id="call_3")


def make_planner(tools, planner, url, **kwargs):
    return LLMPlanner(tools, base_url=url, model="stub-model", fallback=planner, **kwargs)


def test_tool_calling_round_trip(tools, planner, gazetteer):
    with StubLLM(scripted) as stub:
        plan = make_planner(tools, planner, stub.url).plan("marketing jobs in Seattle with former colleagues", "m002", now=NOW)
    assert plan.planner == "llm (stub-model)"
    expected = sorted(c["id"] for c in tools.graph_lookup("m002", "worked_with")["companies"])
    # The model made "with former colleagues" soft; the rule plan reads it as strict, and an LLM plan never softens a strict clause.
    assert plan.clauses == [{"geo": {"in": [gazetteer.metro_alias("seattle", in_query=True).id]}}, {"company": {"in": expected}}]
    assert plan.preferences == [{"company": {"in": expected}}]
    assert plan.boost["engagement"] > 0 and plan.profile_weight > 0
    first, second, third = stub.requests
    assert {t["function"]["name"] for t in first["tools"]} >= {"resolve_location", "lookup_company", "graph_lookup",
                                                                 "profile_lookup", "salary_statistics", "submit_plan"}
    assert first["model"] == "stub-model" and first["messages"][1]["content"].startswith("marketing jobs")
    assert third["messages"][-1]["role"] == "tool" and third["messages"][-1]["tool_call_id"] == "call_2"


def test_plain_json_answer_is_accepted(tools, planner):
    answer = {"role": "assistant", "content": json.dumps({"intent": "not_job_search", "semantic_text": "", "clauses": []})}
    with StubLLM(lambda body: answer) as stub:
        plan = make_planner(tools, planner, stub.url).plan("tell me a joke", now=NOW)
    assert plan.intent == "not_job_search" and plan.planner.startswith("llm")


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("case", ["down", "slow", "server_error", "malformed_arguments", "unknown_column", "bad_intent", "endless_tools"])
def test_fallback_to_rules_with_warning(tools, planner, caplog, case):
    scripts = {
        "malformed_arguments": lambda body: tool_call("submit_plan", "{not json"),
        "unknown_column": lambda body: tool_call("submit_plan", {"intent": "job_search", "semantic_text": "x",
                                                                 "clauses": [{"phrase": "p", "meaning": "m", "filter": {"planet": {"eq": 3}}}]}),
        "bad_intent": lambda body: tool_call("submit_plan", {"intent": "shopping", "semantic_text": "x", "clauses": []}),
        "endless_tools": lambda body: tool_call("resolve_location", {"name": "Boston"}),
    }
    query = "remote data jobs in Boston"
    expected = planner.plan(query, now=NOW)
    caplog.set_level(logging.WARNING, logger="flatsearch.jobsearch.planner_llm")
    if case == "down":
        plan = make_planner(tools, planner, closed_port_url(), timeout_s=2).plan(query, now=NOW)
    else:
        stub = StubLLM(scripts.get(case, scripted), delay_s=1.5 if case == "slow" else 0.0, status=500 if case == "server_error" else 200)
        with stub:
            plan = make_planner(tools, planner, stub.url, timeout_s=0.5 if case == "slow" else 5, max_rounds=3).plan(query, now=NOW)
    assert plan.planner.startswith("rules (LLM fallback")
    assert plan.filters == expected.filters and plan.semantic_text == expected.semantic_text
    assert any("LLM planner failed" in r.getMessage() for r in caplog.records)


def test_configuration_errors(tools, planner):
    with pytest.raises(ValueError, match="base_url: expected an http"):
        LLMPlanner(tools, base_url="localhost:8000", model="m", fallback=planner)
    with pytest.raises(ValueError, match="model: expected"):
        LLMPlanner(tools, base_url="http://127.0.0.1:1/v1", model="", fallback=planner)


def test_tools_report_bad_arguments_instead_of_raising(tools):
    assert "error" in tools.call("resolve_location", "{}", member_id=None)
    assert "error" in tools.call("graph_lookup", {"relation": "worked_with"}, member_id=None)
    assert "error" in tools.call("drop_tables", {}, member_id=None)
    assert tools.call("lookup_company", {"name": "stripe"}, member_id=None)["matches"][0]["name"] == "Stripe"
    assert tools.call("lookup_company", {"name": "Strpe"}, member_id=None)["matches"][0]["name"] == "Stripe"


def _submit(clauses, intent="job_search", semantic="data"):
    return lambda body: tool_call("submit_plan", {"intent": intent, "semantic_text": semantic, "clauses": clauses})


def _nested(depth):
    clause = {"work_mode": {"eq": 3}}
    for _ in range(depth):
        clause = {"not": {"not": clause}}
    return clause


@pytest.mark.parametrize("case, script", [
    ("drops every clause", _submit([])),
    ("inverts the place", None),
    ("softens the mode", None),
    ("huge list", _submit([{"phrase": "p", "meaning": "m", "filter": {"company": {"in": list(range(5000))}}}])),
    ("huge number", _submit([{"phrase": "p", "meaning": "m", "filter": {"salary_max": {"gte": 1e308}}}])),
    ("deep nesting", _submit([{"phrase": "p", "meaning": "m", "filter": _nested(5000)}])),
    ("wrong intent", _submit([], intent="not_job_search")),
    ("not a list", _submit({"phrase": "p"})),
    ("non-string text", lambda body: tool_call("submit_plan", {"intent": "job_search", "semantic_text": {"x": 1}, "clauses": []})),
])
def test_hostile_plans_never_weaken_the_rule_plan(tools, planner, gazetteer, caplog, case, script):
    query = "remote data jobs in Boston"
    rules = planner.plan(query, now=NOW)
    geo = next(c for c in rules.clauses if "geo" in json.dumps(c))
    mode = next(c for c in rules.clauses if c == {"work_mode": {"eq": 3}})
    if case == "inverts the place":
        script = _submit([{"phrase": "p", "meaning": "m", "filter": {"not": geo}}])
    if case == "softens the mode":
        script = _submit([{"phrase": "p", "meaning": "m", "filter": geo}, {"phrase": "q", "meaning": "m", "filter": mode, "soft": True}])
    caplog.set_level(logging.WARNING, logger="flatsearch.jobsearch.planner_llm")
    with StubLLM(script) as stub:
        plan = make_planner(tools, planner, stub.url, max_rounds=2).plan(query, now=NOW)
    # Either the answer was rejected (rule plan, with a warning) or every strict rule clause is still there.
    assert all(clause in plan.clauses for clause in rules.clauses)
    if plan.planner.startswith("rules"):
        assert any("LLM planner failed" in r.getMessage() for r in caplog.records)


def test_model_text_is_stripped_of_control_and_bidi_characters(tools, planner):
    script = _submit([], semantic="data\u202e\x1b[31m engineer\u0000")
    with StubLLM(script) as stub:
        plan = make_planner(tools, planner, stub.url).plan("remote data jobs in Boston", now=NOW)
    assert plan.semantic_text == "data [31m engineer" and "\u202e" not in plan.semantic_text
