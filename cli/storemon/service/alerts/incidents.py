"""The incident state machine: pure functions from a store's status rows (one per live
evaluation, as the model `store_status_now` gives them) to incident openings and resolutions.
The rules are those of docs/alerts.md, "When an incident opens"; this module decides nothing
about open, down or silent itself: it reads `is_open`, `state`, `last_poll_at` and
`state_since` as the dbt model computed them.

Per store the machine remembers a `Track`:

- `seen_poll_at`: the newest `last_poll_at` any evaluation has shown for the store;
- `run_since`: the `state_since` of the down run being counted (the earliest poll of the
  trailing run of inactive polls);
- `counted`: how many polls of that run were *counted*: a poll counts when the first
  evaluation that shows it as the store's latest poll shows the store open and `down`. As the
  service evaluates on every ingestion, that is the poll falling while the store is open.

An incident opens when the store is open and `down` with `counted >= alert_after_polls` (or
open and `silent`, when silent stores alert: silence has no polls to count, `silent_after`
is its threshold). It resolves when the store is `up` (reason "up") or `closed` ("closed").
While it is open it stays open through `down` and `silent` alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

State = Literal["closed", "silent", "down", "up"]


@dataclass(frozen=True)
class StatusRow:
    """The columns of `store_status_now` that the machine reads."""

    store_id: str
    state: State
    is_open: bool
    last_poll_at: datetime | None
    state_since: datetime | None

    @classmethod
    def of(cls, row: dict) -> StatusRow:
        return cls(
            store_id=str(row["store_id"]),
            state=row["state"],
            is_open=bool(row["is_open"]),
            last_poll_at=row.get("last_poll_at"),
            state_since=row.get("state_since"),
        )


@dataclass(frozen=True)
class Track:
    seen_poll_at: datetime | None = None
    run_since: datetime | None = None
    counted: int = 0


@dataclass(frozen=True)
class OpenIncident:
    incident_id: str
    state: State
    started_at: datetime


@dataclass(frozen=True)
class Change:
    """What one evaluation did to a store's incidents: `opened` (state, started now) or
    `resolved` (the open incident, with reason "up" or "closed")."""

    kind: Literal["opened", "resolved"]
    store_id: str
    state: State
    reason: str


@dataclass(frozen=True)
class Rules:
    alert_after_polls: int = 2
    alert_on_silent: bool = False


def count(track: Track, row: StatusRow) -> Track:
    """The track after one status row."""
    if row.state == "up":
        # The inactive run is over; the next one counts from zero.
        return Track(seen_poll_at=_newest(track.seen_poll_at, row.last_poll_at))
    run_since, counted = track.run_since, track.counted
    if row.state == "down" and row.state_since != run_since:
        # A new trailing run of inactive polls (its first poll is the row's state_since).
        run_since, counted = row.state_since, 0
    first_seen = row.last_poll_at is not None and (
        track.seen_poll_at is None or row.last_poll_at > track.seen_poll_at
    )
    if first_seen and row.state == "down" and row.is_open:
        counted += 1
    return Track(_newest(track.seen_poll_at, row.last_poll_at), run_since, counted)


def step(
    track: Track, incident: OpenIncident | None, row: StatusRow, rules: Rules
) -> tuple[Track, Change | None]:
    """One evaluation of one store: its new track, and the change to its incidents if any."""
    track = count(track, row)
    if incident is not None:
        if row.state == "up" or not row.is_open:
            reason = "up" if row.state == "up" else "closed"
            return track, Change("resolved", row.store_id, incident.state, reason)
        return track, None
    if not row.is_open:
        return track, None
    if row.state == "down" and track.counted >= rules.alert_after_polls:
        reason = f"{track.counted} inactive polls in a row while open"
        return track, Change("opened", row.store_id, "down", reason)
    if row.state == "silent" and rules.alert_on_silent:
        return track, Change("opened", row.store_id, "silent", "silent while open")
    return track, None


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)
