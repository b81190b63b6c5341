"""A loopback OpenAI-compatible chat-completions server that answers grades, with or without logprobs.

``answer(body) -> (content, top_logprobs or None)`` decides each reply; the server
speaks the real wire format, including ``choices[0].logprobs.content[0].top_logprobs``.
"""
from __future__ import annotations

from chat_completions_stub import ChatCompletionsStub


class GradeStub(ChatCompletionsStub):
    """``with GradeStub(answer) as stub: ... stub.url``; ``stub.requests`` keeps every request body."""

    def __init__(self, answer, *, status: int = 200):
        self.answer = answer
        super().__init__(self._reply, status=status)

    def _reply(self, body: dict) -> dict:
        content, top = self.answer(body)
        logprobs = None
        if top is not None:
            entries = [{"token": token, "logprob": logprob, "bytes": list(token.encode())} for token, logprob in top]
            logprobs = {"content": [{**entries[0], "top_logprobs": entries}], "refusal": None}
        return {"finish_reason": "length", "logprobs": logprobs, "message": {"role": "assistant", "content": content}}
