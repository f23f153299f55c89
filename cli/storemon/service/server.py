"""`storemon serve`'s HTTP server: uvicorn, with the limits that a hostile or clumsy client
must not get past (docs/service.md, Limits).

uvicorn's own settings do part of it: `timeout_keep_alive` closes a connection idle between
requests, `limit_concurrency` answers 503 when every connection is busy, `proxy_headers` with
`forwarded_allow_ips` takes the scheme and client address from a trusted proxy, and
`h11_max_incomplete_event_size` bounds the headers under h11. The rest is added here, on
uvicorn's httptools protocol, where the bytes arrive: a deadline for the request line and
headers (uvicorn arms no timer before the first request, so a connection that sends nothing,
or a byte a second, stayed open for ever), a limit on their size (httptools buffers a header
line of any length), and a cap on open connections that closes the longest-idle ones first
(a connection that never sent a request holds a file descriptor; enough of them and the
server can no longer accept /health)."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass
from typing import Any

from storemon.project import eprint

# Descriptors the server needs besides its connections: DuckDB files, dbt, logs, the loop.
OTHER_DESCRIPTORS = 256
# Connections one turn of the event loop may accept before those it closed are gone (uvicorn's
# 503 counts closing connections too): the slack between the cap and uvicorn's 503.
ACCEPT_BATCH = 100


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10
    keep_alive_timeout: int = 5
    max_header_kb: int = 64
    max_connections: int = 500


def _refusal(status: int, phrase: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def protocol_class(limits: Limits) -> type:
    """uvicorn's httptools protocol with the header deadline and size limit, and the
    connection cap."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    max_header_bytes = limits.max_header_kb * 1024

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.header_timer: asyncio.TimerHandle | None = None
            self.header_bytes = 0
            self.reading_headers = True
            self.busy = False  # between a request's headers and the end of its answer
            self.idle_since = time.monotonic()

        # -------------------------------------------------------------- the deadline
        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self.header_timer = self.loop.call_later(limits.header_timeout, self._headers_late)

        def _cancel_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_late(self) -> None:
            self.header_timer = None
            if self.transport.is_closing() or self.busy:
                return
            if self.header_bytes:  # a request began: say why it ends
                detail = f"request headers not complete within {limits.header_timeout:g} s"
                self.transport.write(_refusal(408, "Request Timeout", detail))
            self.transport.close()

        # -------------------------------------------------------------- uvicorn's hooks
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()
            self._shed_idle_connections()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.reading_headers:
                self.header_bytes += len(data)
            super().data_received(data)
            if (
                self.reading_headers
                and self.header_bytes > max_header_bytes
                and not self.transport.is_closing()
            ):
                detail = f"request line and headers over {limits.max_header_kb} kB"
                self.transport.write(_refusal(431, "Request Header Fields Too Large", detail))
                self.transport.close()

        def on_headers_complete(self) -> None:
            self.reading_headers = False
            self.header_bytes = 0
            self.busy = True
            self._cancel_header_timer()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.reading_headers = True  # what comes next is the next request's

        def on_response_complete(self) -> None:
            self.busy = False
            self.idle_since = time.monotonic()
            super().on_response_complete()
            if not self.transport.is_closing() and not self.pipeline:
                self._arm_header_timer()

        # -------------------------------------------------------------- the cap
        def _shed_idle_connections(self) -> None:
            """Past the cap, close the connections idle longest (no request under way)."""
            open_ones = [c for c in self.connections if not c.transport.is_closing()]
            excess = len(open_ones) - limits.max_connections
            if excess <= 0:
                return
            idle = sorted(
                (c for c in open_ones
                 if c is not self and isinstance(c, GuardedProtocol) and not c.busy),
                key=lambda c: c.idle_since,
            )  # fmt: skip
            for connection in idle[:excess]:
                connection._cancel_header_timer()
                connection.transport.close()

    return GuardedProtocol


def raise_descriptor_limit(max_connections: int) -> None:
    """Make room for `max_connections` open connections (raising the soft limit up to the hard
    one), or say on stderr that the cap cannot be reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + OTHER_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
        if soft < needed:
            eprint(
                f"warning: the descriptor limit ({soft}) is below --max-connections"
                f" {max_connections} + {OTHER_DESCRIPTORS}: lower --max-connections or raise"
                " `ulimit -n`"
            )


def run(app: Any, host: str, port: int, limits: Limits, forwarded_allow_ips: str) -> None:
    import uvicorn

    raise_descriptor_limit(limits.max_connections)
    try:
        http: Any = protocol_class(limits)
    except ImportError:  # no httptools: h11, which bounds the headers itself
        http = "h11"
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=http,
        timeout_keep_alive=limits.keep_alive_timeout,
        # Every connection busy (none idle to close) and more arriving: 503 at once.
        limit_concurrency=limits.max_connections + ACCEPT_BATCH,
        h11_max_incomplete_event_size=limits.max_header_kb * 1024,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
