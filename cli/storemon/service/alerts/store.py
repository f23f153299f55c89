"""Incidents and their deliveries in the inbox (the home's DuckDB file).

`observe` takes the status rows of one evaluation and, in ONE transaction, updates the
stores' tracks, opens and resolves incidents, and writes the deliveries those changes cause
(the outbox): a change is never committed without its deliveries, nor a delivery without its
change. Deliverers (deliver.py) read the outbox and record every attempt.

The tables are created at start-up when missing (a home written before alerts existed opens
with every row it had, and empty incidents)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

from storemon.service.alerts.incidents import (
    Change,
    OpenIncident,
    Rules,
    StatusRow,
    Track,
    step,
)
from storemon.service.inbox import Inbox

SCHEMA = """
create table if not exists alert_tracks (
    store_id varchar primary key,
    seen_poll_at timestamp,
    run_since timestamp,
    counted integer not null
);
create table if not exists incidents (
    incident_id varchar primary key,
    store_id varchar not null,
    state varchar not null,
    started_at timestamp not null,
    reason varchar not null,
    resolved_at timestamp,
    resolution varchar
);
create table if not exists deliveries (
    delivery_id varchar primary key,
    seq bigint not null,
    receiver varchar not null,
    created_at timestamp not null,
    payload varchar not null,
    status varchar not null,
    attempts integer not null,
    next_attempt_at timestamp not null,
    delivered_at timestamp,
    last_error varchar
);
create table if not exists delivery_changes (
    delivery_id varchar not null,
    incident_id varchar not null,
    change varchar not null
);
create table if not exists delivery_attempts (
    delivery_id varchar not null,
    attempt integer not null,
    attempted_at timestamp not null,
    status_code integer,
    error varchar,
    seconds double not null
);
"""
# A fleet changing at once is sent in deliveries of at most this many changes each.
CHANGES_PER_DELIVERY = 500
RECEIVERS = ("webhook", "alertmanager")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def iso(at: datetime | None) -> str | None:
    """RFC 3339 in UTC, as webhook receivers and Alertmanager read it."""
    return None if at is None else at.isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    receiver: str
    payload: list[dict]
    attempts: int
    next_attempt_at: datetime


class AlertStore:
    def __init__(self, inbox: Inbox, rules: Rules, receivers: Iterable[str]) -> None:
        self.inbox = inbox
        self.rules = rules
        self.receivers = tuple(receivers)
        with self.inbox.write_lock:
            self.inbox.connection.execute(SCHEMA)

    # ------------------------------------------------------------------ evaluation
    def observe(self, rows: Iterable[dict], at: datetime) -> list[dict]:
        """Apply one evaluation's status rows (at the instant `at`); commit the tracks, the
        incident changes and their deliveries together. Returns the changes."""
        status = {row.store_id: row for row in map(StatusRow.of, rows)}
        if not status:
            return []
        stores = list(status)
        with (
            closing(self.inbox.cursor()) as cursor,
            self.inbox.transaction(cursor, of_inputs=False),
        ):
            tracks = {
                store: Track(seen, since, counted)
                for store, seen, since, counted in cursor.execute(
                    "select store_id, seen_poll_at, run_since, counted from alert_tracks"
                    " where store_id in (select unnest($1::varchar[]))",
                    [stores],
                ).fetchall()
            }
            open_incidents = {
                store: OpenIncident(incident_id, state, started_at)
                for incident_id, store, state, started_at in cursor.execute(
                    "select incident_id, store_id, state, started_at from incidents"
                    " where resolved_at is null and store_id in (select unnest($1::varchar[]))",
                    [stores],
                ).fetchall()
            }
            new_tracks: dict[str, Track] = {}
            changes: list[dict] = []
            for store in sorted(stores):
                before = tracks.get(store, Track())
                incident = open_incidents.get(store)
                after, change = step(before, incident, status[store], self.rules)
                if after != before:
                    new_tracks[store] = after
                if change is not None:
                    changes.append(self._change(change, incident, at))
            self._write_tracks(cursor, new_tracks)
            self._write_incidents(cursor, changes)
            self._write_deliveries(cursor, changes)
        return changes

    @staticmethod
    def _change(change: Change, incident: OpenIncident | None, at: datetime) -> dict:
        if change.kind == "opened":
            return {
                "change": "opened",
                "incident_id": uuid.uuid4().hex,
                "store_id": change.store_id,
                "state": change.state,
                "started_at": at,
                "resolved_at": None,
                "reason": change.reason,
            }
        assert incident is not None
        return {
            "change": "resolved",
            "incident_id": incident.incident_id,
            "store_id": change.store_id,
            "state": incident.state,
            "started_at": incident.started_at,
            "resolved_at": at,
            "reason": change.reason,
        }

    def _write_tracks(self, cursor, tracks: dict[str, Track]) -> None:
        if not tracks:
            return
        stores = list(tracks)
        cursor.execute(
            "insert or replace into alert_tracks select unnest($1::varchar[]),"
            " unnest($2::timestamp[]), unnest($3::timestamp[]), unnest($4::integer[])",
            [
                stores,
                [tracks[s].seen_poll_at for s in stores],
                [tracks[s].run_since for s in stores],
                [tracks[s].counted for s in stores],
            ],
        )

    def _write_incidents(self, cursor, changes: list[dict]) -> None:
        opened = [c for c in changes if c["change"] == "opened"]
        resolved = [c for c in changes if c["change"] == "resolved"]
        if opened:
            cursor.execute(
                "insert into incidents select unnest($1::varchar[]), unnest($2::varchar[]),"
                " unnest($3::varchar[]), unnest($4::timestamp[]), unnest($5::varchar[]),"
                " null, null",
                [[c[key] for c in opened] for key in
                 ("incident_id", "store_id", "state", "started_at", "reason")],
            )  # fmt: skip
        if resolved:
            cursor.execute(
                "update incidents set resolved_at = done.resolved_at, resolution = done.reason"
                " from (select unnest($1::varchar[]) as incident_id,"
                " unnest($2::timestamp[]) as resolved_at, unnest($3::varchar[]) as reason) done"
                " where incidents.incident_id = done.incident_id",
                [[c[key] for c in resolved] for key in ("incident_id", "resolved_at", "reason")],
            )

    def _write_deliveries(self, cursor, changes: list[dict]) -> None:
        if not changes or not self.receivers:
            return
        seq = cursor.execute("select coalesce(max(seq), 0) from deliveries").fetchone()[0]
        now = utc_now()
        ids, receivers, payloads, links = [], [], [], ([], [], [])
        for receiver in self.receivers:
            for start in range(0, len(changes), CHANGES_PER_DELIVERY):
                chunk = changes[start : start + CHANGES_PER_DELIVERY]
                delivery_id = f"msg_{uuid.uuid4().hex}"
                ids.append(delivery_id)
                receivers.append(receiver)
                payloads.append(json.dumps([_wire(c) for c in chunk]))
                for c in chunk:
                    links[0].append(delivery_id)
                    links[1].append(c["incident_id"])
                    links[2].append(c["change"])
        cursor.execute(
            "insert into deliveries select id, $1 + ordinality, receiver, $2::timestamp, payload,"
            " 'pending', 0, $2::timestamp, null, null from (select unnest($3::varchar[]) as id,"
            " unnest($4::varchar[]) as receiver, unnest($5::varchar[]) as payload,"
            " unnest(range(1, $6 + 1)) as ordinality)",
            [seq, now, ids, receivers, payloads, len(ids)],
        )
        cursor.execute(
            "insert into delivery_changes select unnest($1::varchar[]), unnest($2::varchar[]),"
            " unnest($3::varchar[])",
            list(links),
        )

    # ------------------------------------------------------------------ deliveries
    def next_delivery(self, receiver: str) -> Delivery | None:
        """The oldest delivery to `receiver` not yet answered 2xx (deliveries go in order)."""
        with closing(self.inbox.cursor()) as cursor:
            row = cursor.execute(
                "select delivery_id, payload, attempts, next_attempt_at from deliveries"
                " where receiver = $1 and status = 'pending' order by seq limit 1",
                [receiver],
            ).fetchone()
        if row is None:
            return None
        delivery_id, payload, attempts, next_attempt_at = row
        return Delivery(delivery_id, receiver, json.loads(payload), attempts, next_attempt_at)

    def record_attempt(
        self,
        delivery: Delivery,
        attempted_at: datetime,
        seconds: float,
        status_code: int | None,
        error: str | None,
        retry_at: datetime | None,
    ) -> None:
        """One try of `delivery`: delivered when `retry_at` is None, else due again then."""
        attempt = delivery.attempts + 1
        with (
            closing(self.inbox.cursor()) as cursor,
            self.inbox.transaction(cursor, of_inputs=False),
        ):
            cursor.execute(
                "insert into delivery_attempts values ($1, $2, $3, $4, $5, $6)",
                [delivery.delivery_id, attempt, attempted_at, status_code, error, seconds],
            )
            cursor.execute(
                "update deliveries set attempts = $2, last_error = $3,"
                " status = case when $4::timestamp is null then 'delivered' else 'pending' end,"
                " delivered_at = case when $4::timestamp is null then $5::timestamp end,"
                " next_attempt_at = coalesce($4::timestamp, next_attempt_at)"
                " where delivery_id = $1",
                [delivery.delivery_id, attempt, error, retry_at, utc_now()],
            )

    def firing(self) -> list[dict]:
        """Every open incident, as a change that opened it (for Alertmanager's re-sends)."""
        with closing(self.inbox.cursor()) as cursor:
            rows = cursor.execute(
                "select incident_id, store_id, state, started_at, reason from incidents"
                " where resolved_at is null order by started_at, incident_id"
            ).fetchall()
        return [
            _wire({"change": "opened", "incident_id": i, "store_id": s, "state": st,
                   "started_at": at, "resolved_at": None, "reason": r})
            for i, s, st, at, r in rows
        ]  # fmt: skip

    def pending_counts(self) -> dict[str, int]:
        with closing(self.inbox.cursor()) as cursor:
            rows = cursor.execute(
                "select receiver, count(*) from deliveries where status = 'pending' group by 1"
            ).fetchall()
        return dict(rows)

    def open_count(self) -> int:
        with closing(self.inbox.cursor()) as cursor:
            return cursor.execute(
                "select count(*) from incidents where resolved_at is null"
            ).fetchone()[0]

    # ------------------------------------------------------------------ listing
    def incidents(
        self, status: str | None = None, store_id: str | None = None, limit: int = 100
    ) -> list[dict]:
        """Incidents newest first, each with its deliveries and their latest attempts."""
        with closing(self.inbox.cursor()) as cursor:
            result = cursor.execute(
                "select * from incidents where ($1 is null or store_id = $1)"
                " and ($2 is null or ($2 = 'open') = (resolved_at is null))"
                " order by started_at desc, incident_id desc limit $3",
                [store_id, status, limit],
            )
            names = [column[0] for column in result.description]
            found = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
            ids = [row["incident_id"] for row in found]
            result = cursor.execute(
                "select c.incident_id, c.change, d.delivery_id, d.receiver, d.status, d.attempts,"
                " d.created_at, d.delivered_at, d.next_attempt_at, d.last_error"
                " from delivery_changes c join deliveries d using (delivery_id)"
                " where c.incident_id in (select unnest($1::varchar[])) order by d.seq",
                [ids],
            )
            names = [column[0] for column in result.description]
            deliveries = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
            delivery_ids = list({d["delivery_id"] for d in deliveries})
            attempts: dict[str, list[dict]] = {}
            for delivery_id, attempt, at, code, error, seconds in cursor.execute(
                "select * from delivery_attempts where delivery_id in"
                " (select unnest($1::varchar[])) qualify row_number() over"
                " (partition by delivery_id order by attempt desc) <= 10"
                " order by delivery_id, attempt",
                [delivery_ids],
            ).fetchall():
                attempts.setdefault(delivery_id, []).append(
                    {"attempt": attempt, "attempted_at": at, "status_code": code,
                     "error": error, "seconds": seconds}
                )  # fmt: skip
        by_incident: dict[str, list[dict]] = {}
        for d in deliveries:
            d["last_attempts"] = attempts.get(d["delivery_id"], [])
            by_incident.setdefault(d["incident_id"], []).append(d)
        for incident in found:
            incident["deliveries"] = by_incident.get(incident["incident_id"], [])
        return found


def _wire(change: dict) -> dict:
    """A change as receivers get it: times in RFC 3339."""
    return {
        **change,
        "started_at": iso(change["started_at"]),
        "resolved_at": iso(change["resolved_at"]),
    }
