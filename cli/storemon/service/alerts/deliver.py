"""Deliverers: one thread per configured receiver kind, each sending that receiver's
deliveries in order, one request at a time, until it answers 2xx.

A receiver that fails (an error status, a timeout, a refused connection) gets the same
delivery again after a back-off: 1, 2, 4, ... seconds, at most five minutes apart, or when
its `Retry-After` says (at most an hour). Each kind has its own thread, so a slow or dead
receiver delays only its own deliveries; ingestion never waits for any of them. Every try is
recorded (GET /incidents shows them); a delivery's id and body are fixed when it is written,
so a receiver sees the same `webhook-id` on every try, also after a restart.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storemon import __version__
from storemon.project import eprint
from storemon.service.alerts.store import AlertStore, Delivery, utc_now

MAX_BACKOFF_SECONDS = 300.0
MAX_RETRY_AFTER_SECONDS = 3600.0
USER_AGENT = f"storemon/{__version__}"


def backoff_seconds(attempts: int) -> float:
    """The wait after the `attempts`-th failed try (1, 2, 4, ... capped at five minutes)."""
    return min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts - 1, 20))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header (seconds, or an HTTP date) as seconds from `now`."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now.replace(tzinfo=UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    retry_after: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(request: Request, timeout: float) -> Outcome:
    """POST once; any failure is an outcome, never an exception."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **request.headers}
    http = urllib.request.Request(request.url, request.body, headers, method="POST")
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            answer.read(65536)
            return Outcome(answer.status, None, None)
    except urllib.error.HTTPError as error:
        error.close()
        reason = f"HTTP {error.code}"
        return Outcome(error.code, reason, error.headers.get("Retry-After"))
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return Outcome(None, str(reason) or type(error).__name__, None)


# ---------------------------------------------------------------------- receivers
def webhook_key(secret: str) -> bytes:
    """The signing key of a Standard Webhooks secret (`whsec_` + base64)."""
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("the webhook secret is not whsec_ followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def sign_webhook(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: v1 and the base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_request(url: str, key: bytes) -> Callable[[Delivery], Request]:
    def build(delivery: Delivery) -> Request:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())  # of this try: receivers refuse stale ones
        return Request(url, body, {
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(key, delivery.delivery_id, timestamp, body),
        })  # fmt: skip

    return build


ALERTNAME = "StoreIncident"


def alertmanager_alerts(changes: list[dict]) -> list[dict]:
    """Changes as Alertmanager v2 alerts: firing (no endsAt) or resolved (endsAt)."""
    alerts = []
    for change in changes:
        alert = {
            "labels": {
                "alertname": ALERTNAME,
                "store_id": change["store_id"],
                "state": change["state"],
            },
            "annotations": {
                "summary": f"store {change['store_id']} is {change['state']} while open",
                "incident_id": change["incident_id"],
                "reason": change["reason"],
            },
            "startsAt": change["started_at"],
        }
        if change["resolved_at"] is not None:
            alert["endsAt"] = change["resolved_at"]
        alerts.append(alert)
    return alerts


def alertmanager_request(url: str) -> Callable[[list[dict]], Request]:
    """A POST of `changes` as alerts to Alertmanager's v2 API at `url`."""
    endpoint = url.rstrip("/") + "/api/v2/alerts"

    def build(changes: list[dict]) -> Request:
        return Request(endpoint, json.dumps(alertmanager_alerts(changes)).encode(), {})

    return build


# ---------------------------------------------------------------------- the threads
class Deliverer:
    """Sends one receiver's deliveries, oldest first. `resend`: also send `store.firing()`
    every so many seconds (Alertmanager forgets an alert that is not re-sent within its
    resolve_timeout)."""

    def __init__(
        self,
        store: AlertStore,
        receiver: str,
        build: Callable[[Delivery], Request],
        timeout: float,
        resend: tuple[float, Callable[[list[dict]], Request]] | None = None,
    ) -> None:
        self.store = store
        self.receiver = receiver
        self.build = build
        self.timeout = timeout
        self.resend = resend
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name=f"storemon-{receiver}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        # A request in flight is left to time out: its outcome is not recorded (stopping),
        # so the delivery stays pending for the next start.
        self.thread.join(timeout=2)

    def _run(self) -> None:
        last_resend = 0.0
        while not self.stopping:
            # Cleared before looking, so that a delivery written meanwhile wakes the wait.
            self.wake.clear()
            try:
                last_resend = self._step(last_resend)
            except Exception as error:  # the inbox failing: said once a try, tried again
                if self.stopping:
                    return
                eprint(f"alerts: {self.receiver} deliverer: {type(error).__name__}: {error}")
                self._sleep(5)

    def _step(self, last_resend: float) -> float:
        """Re-send what fires when that is due, else send the oldest delivery when it is due,
        else wait until one of them is; the time of the latest re-send."""
        resend_wait = 3600.0
        if self.resend is not None:
            interval, build = self.resend
            resend_wait = last_resend + interval - time.monotonic()
            if resend_wait <= 0:
                # Current state: a resolved incident is not in it, whatever is still queued.
                firing = self.store.firing()
                if firing:
                    post(build(firing), self.timeout)
                return time.monotonic()
        delivery = self.store.next_delivery(self.receiver)
        if delivery is None:
            self._sleep(resend_wait)
            return last_resend
        wait = (delivery.next_attempt_at - utc_now()).total_seconds()
        if wait > 0:
            self._sleep(min(wait, resend_wait))
            return last_resend
        self._attempt(delivery)
        return last_resend

    def _sleep(self, seconds: float) -> None:
        self.wake.wait(timeout=seconds)

    def _attempt(self, delivery: Delivery) -> None:
        attempted_at = utc_now()
        started = time.perf_counter()
        outcome = post(self.build(delivery), self.timeout)
        seconds = time.perf_counter() - started
        if outcome.delivered:
            retry_at = None
        else:
            wait = retry_after_seconds(outcome.retry_after, utc_now())
            if wait is None:
                wait = backoff_seconds(delivery.attempts + 1)
            retry_at = utc_now() + timedelta(seconds=wait)
        if self.stopping:
            # The inbox may be closing: the try is not recorded and the delivery stays
            # pending, to be sent again after the next start (at least once).
            return
        self.store.record_attempt(
            delivery, attempted_at, seconds, outcome.status_code, outcome.error, retry_at
        )
