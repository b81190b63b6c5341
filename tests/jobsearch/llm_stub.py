"""A loopback stand-in for an OpenAI-compatible server that plans with tool calls.

It answers from a script: a function from the request body to the reply message,
which may carry ``tool_calls``."""
from __future__ import annotations

import json

from chat_completions_stub import ChatCompletionsStub


def tool_call(name: str, arguments, call_id: str = "call_1") -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name,
                                                           "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}}]}


class StubLLM(ChatCompletionsStub):
    """Run with ``with StubLLM(script) as stub: ... stub.url``; ``stub.requests`` keeps every request body."""

    def __init__(self, script, *, delay_s: float = 0.0, status: int = 200):
        self.script = script
        super().__init__(self._reply, delay_s=delay_s, status=status)

    def _reply(self, body: dict) -> dict:
        message = self.script(body)
        return {"message": message, "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}
