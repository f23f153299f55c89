"""Incidents and alerts (docs/alerts.md): the state machine (incidents.py), its tables and
outbox in the inbox (store.py), and the deliverers to the configured receivers (deliver.py).

The service's live status calls `Alerts.listen(evaluation)` after each evaluation (see
live_hook.py) with the stores whose status row changed and the evaluation's instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from storemon.service.alerts.deliver import (
    Deliverer,
    alertmanager_request,
    webhook_key,
    webhook_request,
)
from storemon.service.alerts.incidents import Rules
from storemon.service.alerts.store import AlertStore
from storemon.service.inbox import Inbox
from storemon.service.live_hook import Evaluation


class Alerts:
    def __init__(
        self,
        inbox: Inbox,
        rules: Rules,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        alertmanager_url: str | None = None,
        timeout: float = 10.0,
        resend_seconds: float = 60.0,
    ) -> None:
        receivers = []
        if webhook_url:
            receivers.append("webhook")
        if alertmanager_url:
            receivers.append("alertmanager")
        self.store = AlertStore(inbox, rules, receivers)
        self.deliverers: list[Deliverer] = []
        if webhook_url:
            if not webhook_secret:
                raise ValueError("a webhook needs a secret (--webhook-secret whsec_...)")
            build = webhook_request(webhook_url, webhook_key(webhook_secret))
            self.deliverers.append(Deliverer(self.store, "webhook", build, timeout))
        if alertmanager_url:
            alerts = alertmanager_request(alertmanager_url)
            self.deliverers.append(
                Deliverer(
                    self.store,
                    "alertmanager",
                    lambda delivery: alerts(delivery.payload),
                    timeout,
                    resend=(resend_seconds, alerts),
                )
            )

    def start(self) -> None:
        for deliverer in self.deliverers:
            deliverer.start()

    def stop(self) -> None:
        for deliverer in self.deliverers:
            deliverer.stopping = True
            deliverer.wake.set()
        for deliverer in self.deliverers:
            deliverer.stop()

    def listen(self, evaluation: Evaluation) -> None:
        """The live status's listener: the new rows of the stores that changed. A store that
        left the fleet (no new row) keeps its incidents as they are."""
        rows = [change.new._asdict() for change in evaluation.changes if change.new is not None]
        self.observe(rows, evaluation.at)

    def observe(self, rows: Iterable[dict], at: datetime) -> list[dict]:
        """One evaluation's changed status rows at instant `at`: incidents opened and resolved,
        and their deliveries, committed together; the deliverers are woken."""
        changes = self.store.observe(rows, at)
        if changes:
            for deliverer in self.deliverers:
                deliverer.wake.set()
        return changes
