"""A planner that asks an LLM, through any OpenAI-compatible chat-completions endpoint
(vLLM, llama.cpp server, Ollama, ...), using tool calling.

The model gets the same tools as the rule planner (:data:`~.tools.TOOL_SCHEMAS`) plus
``submit_plan``, whose arguments are the plan. When the endpoint is down, slow, or answers with
malformed calls or filters, the planner logs a warning and returns the rule planner's plan
instead, so a search never fails because of the LLM.

**The LLM never weakens the rule plan.** Its answer is checked against the schema (intent, at
most ``MAX_CLAUSES`` clauses, filters at most ``MAX_FILTER_DEPTH`` deep, lists of at most
``MAX_LIST_ITEMS`` values, finite numbers within ``MAX_ABS_NUMBER``, strings of at most
``MAX_TEXT_CHARS``), every filter against the job index's columns, and then against the rule
planner's plan for the same query: every strict clause of the rule plan is kept as it is (the LLM
may add clauses or preferences -- refine -- but a clause it drops, turns soft or changes is put back
strict), and a clause that contradicts a rule clause (its negation) or a different intent makes the
whole answer fall back to the rule plan. So the jobs an LLM plan returns are always a subset of
what the rule plan allows. Text from the model is stripped of control and bidi characters.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import numpy as np

import flatsearch as fs

from .catalog import ATTRIBUTES
from .locations import WORK_MODE_CODES
from .plan import INTENTS, QueryPlan
from .lexicon import clean_query
from .planner_rules import MAX_QUERY_CHARS, RulePlanner, add_ranking_terms
from .seniority import LEVEL_CODES
from .tools import TOOL_SCHEMAS, PlannerTools

logger = logging.getLogger(__name__)

SUBMIT_PLAN = {"type": "function", "function": {
    "name": "submit_plan",
    "description": "Finish: submit the query plan.",
    "parameters": {"type": "object", "required": ["intent", "semantic_text", "clauses"], "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "semantic_text": {"type": "string", "description": "the part of the query that is not a strict filter, to embed"},
        "clauses": {"type": "array", "items": {"type": "object", "required": ["phrase", "meaning", "filter"], "properties": {
            "phrase": {"type": "string"}, "meaning": {"type": "string"},
            "filter": {"type": "object", "description": "flatsearch filter dict on the job columns"},
            "soft": {"type": "boolean", "description": "true for a preference ('ideally ...') rather than a requirement"}}}},
        "notes": {"type": "array", "items": {"type": "string"}}}}}}


MAX_CLAUSES = 32
MAX_FILTER_DEPTH = 8
MAX_LIST_ITEMS = 1000
MAX_ABS_NUMBER = 1e13
MAX_TEXT_CHARS = 500


class PlannerError(ValueError):
    """The LLM's answer could not be turned into a valid plan."""


def _check_value(value, where: str, depth: int = 0) -> None:
    """Reject what no sane plan holds: deep nesting, enormous lists, non-finite or huge numbers, long strings."""
    if depth > MAX_FILTER_DEPTH:
        raise PlannerError(f"{where}: nested deeper than {MAX_FILTER_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > MAX_LIST_ITEMS:
            raise PlannerError(f"{where}: more than {MAX_LIST_ITEMS} keys")
        for key, item in value.items():
            if not isinstance(key, str) or len(key) > 64:
                raise PlannerError(f"{where}: bad key {str(key)[:40]!r}")
            _check_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise PlannerError(f"{where}: a list of {len(value)} items (at most {MAX_LIST_ITEMS})")
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]", depth + 1)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        if not np.isfinite(float(value)) or abs(float(value)) > MAX_ABS_NUMBER:
            raise PlannerError(f"{where}: number {value!r} out of range")
    elif isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise PlannerError(f"{where}: a string of {len(value)} characters (at most {MAX_TEXT_CHARS})")
    else:
        raise PlannerError(f"{where}: unexpected {type(value).__name__}")


def _canonical(clause) -> str:
    return json.dumps(clause, sort_keys=True)


def _safe_text(text) -> str:
    """Model text as printable plain text: no control, bidi or other format characters."""
    return clean_query(str(text))[:MAX_QUERY_CHARS]


def enforce_rule_plan(plan: QueryPlan, rules: QueryPlan) -> QueryPlan:
    """The LLM plan with every strict clause of the rule plan kept (see the module docstring).

    Raises PlannerError when the LLM plan contradicts the rule plan.

    Example:
        >>> rules = QueryPlan("remote jobs"); rules.add_clause("remote", "remote", {"work_mode": {"eq": 3}})
        >>> llm = QueryPlan("remote jobs"); llm.add_clause("remote", "remote or hybrid", {"work_mode": {"in": [2, 3]}})
        >>> enforce_rule_plan(llm, rules).clauses
        [{'work_mode': {'in': [2, 3]}}, {'work_mode': {'eq': 3}}]
    """
    if plan.intent != rules.intent:
        raise PlannerError(f"intent {plan.intent!r} differs from the rule planner's {rules.intent!r}")
    strict = {_canonical(c) for c in plan.clauses}
    for clause in plan.clauses + plan.preferences:
        inverted = clause["not"] if set(clause) == {"not"} else {"not": clause}
        if any(_canonical(inverted) == _canonical(rule) for rule in rules.clauses):
            raise PlannerError(f"clause {_canonical(clause)[:120]} inverts a rule clause")
    for explanation in rules.explanations:
        if explanation.filter is not None and not explanation.soft and _canonical(explanation.filter) not in strict:
            plan.add_clause(explanation.phrase, explanation.meaning + " (kept from the rule plan)", explanation.filter)
    return plan


def _system_prompt(now: dt.datetime, member_id: str | None) -> str:
    return (
        "You turn a job seeker's query into a search plan for an exact vector index of job postings. "
        f"Columns and kinds: {json.dumps(ATTRIBUTES)}. work_mode codes: {json.dumps(WORK_MODE_CODES)}; seniority codes: "
        f"{json.dumps(LEVEL_CODES)}; posted_at is seconds since the epoch; salaries are yearly USD. Filters use the JSON form "
        '{"and": [...]}, {"or": [...]}, {"not": f}, {column: {op: value}} with op in eq ne lt lte gt gte in; a "tags" column '
        "matches when any element matches. Use resolve_location for places (geo ids), lookup_company for companies, "
        "graph_lookup for 'people I know / worked with', profile_lookup for 'my background', salary_statistics for "
        f"'above median pay'. The current time is {now.isoformat()} ({int(now.timestamp())} s); 'recent' means the last 14 days. "
        f"The signed-in member is {member_id or 'nobody'}. Put only strict requirements in clauses (soft=true for preferences); "
        "everything else goes to semantic_text. When done, call submit_plan exactly once.")


class LLMPlanner:
    """Plans with an LLM over an OpenAI-compatible endpoint, falling back to ``fallback``.

    Example (needs a running endpoint, so not run here):
        >>> planner = LLMPlanner(tools, base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct",
        ...                      fallback=RulePlanner(tools))  # doctest: +SKIP
        >>> planner.plan("remote data jobs in Austin").filters  # doctest: +SKIP
    """

    name = "llm"

    def __init__(self, tools: PlannerTools, *, base_url: str, model: str, fallback: RulePlanner, api_key: str = "not-needed",
                 timeout_s: float = 20.0, max_rounds: int = 6):
        import openai

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model: expected the served model's name, got {model!r}")
        self.tools = tools
        self.model = model
        self.fallback = fallback
        self.max_rounds = max_rounds
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
        self._openai_errors = (openai.OpenAIError,)
        self._validator = fs.Index(1, attributes=ATTRIBUTES)

    def plan(self, query: str, member_id: str | None = None, *, now: dt.datetime | None = None) -> QueryPlan:
        if not isinstance(query, str):
            raise TypeError(f"query: expected a string, got {type(query).__name__}")
        member = self.tools.members.get(member_id) if member_id is not None else None
        now = now or self.tools.catalog.default_now()
        text = " ".join(query.split())
        if not text or len(text) > MAX_QUERY_CHARS:
            return self.fallback.plan(query, member_id, now=now)  # nothing to ask, or too long to send
        try:
            plan = enforce_rule_plan(self._ask(query, text, member_id, now), self.fallback.plan(query, member_id, now=now))
        except (PlannerError, RecursionError, OverflowError, TypeError, ValueError, KeyError, AttributeError, *self._openai_errors) as error:
            reason = f"{type(error).__name__}: {error}"
            logger.warning("LLM planner failed (%s); using the rule planner instead", reason)
            plan = self.fallback.plan(query, member_id, now=now)
            plan.planner = f"rules (LLM fallback: {reason[:200]})"
            return plan
        if plan.intent == "job_search":
            add_ranking_terms(plan, self.tools.catalog, member, now)
        return plan

    def _ask(self, query: str, text: str, member_id: str | None, now: dt.datetime) -> QueryPlan:
        messages: list[dict] = [{"role": "system", "content": _system_prompt(now, member_id)}, {"role": "user", "content": text}]
        for _ in range(self.max_rounds):
            response = self.client.chat.completions.create(model=self.model, messages=messages, tools=[*TOOL_SCHEMAS, SUBMIT_PLAN],
                                                           tool_choice="auto", temperature=0)
            if not response.choices:
                raise PlannerError("the endpoint returned no choices")
            message = response.choices[0].message
            calls = message.tool_calls or []
            if not calls:
                return self._parse_plan(query, member_id, _json_object(message.content or "", what="message content"))
            messages.append({"role": "assistant", "content": message.content,
                             "tool_calls": [{"id": c.id, "type": "function",
                                             "function": {"name": c.function.name, "arguments": c.function.arguments}} for c in calls]})
            for call in calls:
                if call.function.name == "submit_plan":
                    return self._parse_plan(query, member_id, _json_object(call.function.arguments, what="submit_plan arguments"))
                result = self.tools.call(call.function.name, call.function.arguments, member_id=member_id)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        raise PlannerError(f"no plan after {self.max_rounds} rounds of tool calls")

    def _parse_plan(self, query: str, member_id: str | None, data: dict) -> QueryPlan:
        intent = data.get("intent")
        if intent not in INTENTS:
            raise PlannerError(f"intent: expected one of {', '.join(INTENTS)}, got {intent!r}")
        clauses = data.get("clauses", [])
        if not isinstance(clauses, list):
            raise PlannerError(f"clauses: expected a list, got {type(clauses).__name__}")
        if len(clauses) > MAX_CLAUSES:
            raise PlannerError(f"clauses: {len(clauses)} of them (at most {MAX_CLAUSES})")
        semantic = data.get("semantic_text") or ""
        if not isinstance(semantic, str) or len(semantic) > MAX_QUERY_CHARS:
            raise PlannerError(f"semantic_text: expected a string of at most {MAX_QUERY_CHARS} characters")
        notes = data.get("notes") or []
        if not isinstance(notes, list) or len(notes) > MAX_CLAUSES:
            raise PlannerError("notes: expected a short list of strings")
        for i, clause in enumerate(clauses):
            _check_value(clause, f"clauses[{i}]")
        plan = QueryPlan(query=query, intent=intent, semantic_text=_safe_text(semantic).strip(),
                         member_id=member_id, planner=f"llm ({self.model})",
                         notes=[_safe_text(n) for n in notes if isinstance(n, str)])
        for i, clause in enumerate(clauses):
            if not isinstance(clause, dict) or not isinstance(clause.get("filter"), dict):
                raise PlannerError(f"clauses[{i}]: expected an object with a filter object, got {clause!r:.200}")
            try:
                # Searching an empty index with the filter checks column names, operators and value types.
                self._validator.search(np.ones(1, dtype=np.float32), 1, filter=fs.Filter.from_dict(clause["filter"]))
            except (TypeError, ValueError, KeyError) as error:
                raise PlannerError(f"clauses[{i}].filter is not valid for the job index: {error}") from None
            plan.add_clause(_safe_text(clause.get("phrase", "")), _safe_text(clause.get("meaning", "")), clause["filter"],
                            soft=clause.get("soft", False) is True)
        if intent == "job_search" and not plan.semantic_text:
            plan.semantic_text = " ".join(query.split())
        return plan


def _json_object(text: str, *, what: str) -> dict:
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as error:
        raise PlannerError(f"{what}: expected a JSON object, got {text!r:.200} ({error})") from None
    if not isinstance(data, dict):
        raise PlannerError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data
