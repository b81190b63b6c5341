"""A loopback OpenAI-compatible chat-completions server for tests (127.0.0.1 only).

It speaks the real wire format (``POST /v1/chat/completions`` returning a
``chat.completion`` object); ``choose(body) -> choice`` builds ``choices[0]``
(message, finish_reason and, where wanted, logprobs) for each request.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatCompletionsStub:
    """``with ChatCompletionsStub(choose) as stub: ... stub.url``; ``stub.requests`` keeps every request body."""

    def __init__(self, choose, *, delay_s: float = 0.0, status: int = 200):
        self.choose = choose
        self.delay_s = delay_s
        self.status = status
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    stub.requests.append(body)
                if stub.delay_s:
                    time.sleep(stub.delay_s)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if stub.status != 200:
                    return self._send(stub.status, {"error": {"message": "stub failure", "type": "server_error"}})
                choice = {"index": 0, **stub.choose(body)}
                self._send(200, {"id": f"chatcmpl-{len(stub.requests)}", "object": "chat.completion", "created": int(time.time()),
                                 "model": body["model"], "choices": [choice],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

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
