"""A webhook receiver for the alert tests: a real HTTP server on a free port of 127.0.0.1
that answers by a script (fail with 503 and Retry-After, hang past the sender's timeout, then
accept) and keeps every request it got. Used as a context manager; it stops on exit."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loopback import free_port


class Receiver:
    def __init__(self, script: list[tuple] | None = None) -> None:
        # Each request takes the next step; past the end, 200. A step is ("status", code,
        # retry_after or None) or ("hang", seconds).
        self.script = list(script or [])
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    step = receiver.script.pop(0) if receiver.script else ("status", 200, None)
                    headers = {name.lower(): value for name, value in self.headers.items()}
                    receiver.requests.append(
                        {"headers": headers, "body": body, "answer": step, "at": time.monotonic()}
                    )
                if step[0] == "hang":
                    time.sleep(step[1])
                    return  # the sender has given up; no answer
                self.send_response(step[1])
                if step[2] is not None:
                    self.send_header("Retry-After", str(step[2]))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["answer"][0] == "status" and
                    200 <= r["answer"][1] < 300]  # fmt: skip

    def wait_accepted(self, count: int = 1, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.accepted()) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.accepted())} of {count} deliveries after {timeout} s: "
                             f"{self.requests}")  # fmt: skip
