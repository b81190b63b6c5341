"""A loopback OpenAI-compatible chat-completions server that answers grades, with or without logprobs.

``answer(body) -> (content, top_logprobs or None)`` decides each reply; the server
speaks the real wire format, including ``choices[0].logprobs.content[0].top_logprobs``.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class GradeStub:
    """``with GradeStub(answer) as stub: ... stub.url``; ``stub.requests`` keeps every request body."""

    def __init__(self, answer, *, status: int = 200):
        self.answer = answer
        self.status = status
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    stub.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if stub.status != 200:
                    return self._send(stub.status, {"error": {"message": "stub failure", "type": "server_error"}})
                content, top = stub.answer(body)
                logprobs = None
                if top is not None:
                    entries = [{"token": token, "logprob": logprob, "bytes": list(token.encode())} for token, logprob in top]
                    logprobs = {"content": [{**entries[0], "top_logprobs": entries}], "refusal": None}
                self._send(200, {"id": f"chatcmpl-{len(stub.requests)}", "object": "chat.completion", "created": int(time.time()),
                                 "model": body["model"], "choices": [{"index": 0, "finish_reason": "length", "logprobs": logprobs,
                                                                      "message": {"role": "assistant", "content": content}}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
