"""`GET /metrics`: the service's figures in Prometheus' text format (behind the token).

Request latencies are observed as requests pass; the rest is read when Prometheus scrapes:
polls stored from the inbox, rows rejected by reason from the inbox's counters, report
durations from the report history (so the histogram survives a restart), the queue of
reports waiting for the worker and its bound, and whether (and why) the service is degraded."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(tags=["metrics"])
# Seconds; a report takes about a second at Loop scale, an ingestion request milliseconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
REPORT_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120)
# The prefixes of Service.degraded's reasons.
DEGRADED_KINDS = ("disk", "inbox", "reports", "archive")


def install(app: FastAPI, dependencies: list, responses: dict) -> None:
    """Serve /metrics on `app` (with `dependencies`: the token, and its documented
    `responses`) and time its requests; each
    app has its own registry, so that several apps can live in one process (the tests)."""
    registry = CollectorRegistry()
    latency = Histogram(
        "storemon_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template, method and status code.",
        ["route", "method", "status"],
        buckets=REQUEST_BUCKETS,
        registry=registry,
    )
    registry.register(_ServiceCollector(app))
    app.state.metrics_registry = registry
    app.include_router(router, dependencies=dependencies, responses=responses)
    app.add_middleware(TimeRequests, latency=latency)


class TimeRequests:
    """Times each HTTP request into `latency`. A pure ASGI middleware: Starlette's
    BaseHTTPMiddleware (`@app.middleware`) runs every request in a task of its own and streams
    the answer through a queue, a cost a single poll paid on every request; and it turned the
    size limit's 413, raised while a chunked body streams in, into a 400."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        # The template (/get_report/{report_id}), not the path: one series per route.
        route = getattr(scope.get("route"), "path", "unmatched")
        self.latency.labels(route, scope["method"], str(status)).observe(
            time.perf_counter() - started
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
def get_metrics(request: Request) -> Response:
    """The service's metrics in Prometheus' text exposition format."""
    body = generate_latest(request.app.state.metrics_registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)


class _ServiceCollector:
    """Figures read from the running service at each scrape."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self):
        service = getattr(self.app.state, "service", None)
        if service is None:  # not started yet
            return
        inbox = service.inbox
        reasons = service.degraded()
        degraded = GaugeMetricFamily(
            "storemon_degraded",
            "1 when the service is degraded for this kind of reason (disk, inbox, reports,"
            " archive), as GET /health says; else 0.",
            labels=["kind"],
        )
        for kind in DEGRADED_KINDS:
            degraded.add_metric([kind], int(any(r.startswith(f"{kind}:") for r in reasons)))
        yield degraded
        free = service.disk.free_bytes()
        if free is not None:
            disk = GaugeMetricFamily(
                "storemon_disk_free_bytes", "Free bytes on the disk of the service's home."
            )
            disk.add_metric([], free)
            yield disk
        if any(reason.startswith("inbox:") for reason in reasons):
            return  # the figures below are read from the inbox
        stored = GaugeMetricFamily("storemon_polls_stored", "Polls stored in the inbox.")
        stored.add_metric([], inbox.count_polls())
        yield stored
        rejected = CounterMetricFamily(
            "storemon_rows_rejected",
            "Rows refused since the service started, by input and reason.",
            labels=["input", "reason"],
        )
        for (input_name, reason), count in sorted(inbox.rejected_counts.items()):
            rejected.add_metric([input_name, reason], count)
        yield rejected
        queue = GaugeMetricFamily("storemon_report_queue_length", "Reports waiting to run.")
        queue.add_metric([], service.worker.queued())
        yield queue
        limit = GaugeMetricFamily(
            "storemon_report_queue_limit",
            "Reports that may wait (--max-queued-reports); past it a trigger answers 429.",
        )
        limit.add_metric([], service.settings.max_queued_reports)
        yield limit
        live = service.live
        stores = GaugeMetricFamily(
            "storemon_stores",
            "Stores per state at the live status's last evaluation (docs/status.md).",
            labels=["state"],
        )
        for state, count in live.board.counts.items():
            stores.add_metric([state], count)
        yield stores
        evaluations = CounterMetricFamily(
            "storemon_status_evaluations",
            "Evaluations of the live status that ran the model, since the service started.",
        )
        evaluations.add_metric([], live.evaluations)
        yield evaluations
        durations = sorted(service.history.report_seconds())
        histogram = HistogramMetricFamily(
            "storemon_report_duration_seconds",
            "Time from a report's start to its end, for every finished report of the home.",
        )
        buckets = [
            (str(bound), sum(1 for seconds in durations if seconds <= bound))
            for bound in REPORT_BUCKETS
        ] + [("+Inf", len(durations))]
        histogram.add_metric([], buckets, sum_value=sum(durations))
        yield histogram
        incidents = GaugeMetricFamily(
            "storemon_incidents_open", "Stores in an open incident (docs/alerts.md)."
        )
        incidents.add_metric([], service.alerts.store.open_count())
        yield incidents
        pending = GaugeMetricFamily(
            "storemon_alert_deliveries_pending",
            "Deliveries of incident changes not yet answered 2xx, by receiver.",
            labels=["receiver"],
        )
        counts = service.alerts.store.pending_counts()
        for receiver in service.alerts.store.receivers:
            pending.add_metric([receiver], counts.get(receiver, 0))
        yield pending
