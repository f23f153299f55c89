"""What the live status tells whoever listens (the alerts): after each evaluation, the instant it
was made at and every store whose status row changed, with its old and new row.

A listener is a callable `listener(evaluation)`, registered with `LiveStatus.subscribe`; it is
called on the live status's own thread after every evaluation (the changes may be empty), in
evaluation order, one call at a time. A listener that raises is logged and the evaluation goes
on. The first evaluation after start-up has every store with `old=None` (the service keeps no
status across a restart: a listener compares with what it stored itself)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from storemon.status import STATES, STATUS_COLUMNS  # the model's columns, its states

__all__ = ["STATES", "STATUS_COLUMNS", "Evaluation", "Listener", "StatusChange", "StatusRow"]


class StatusRow(NamedTuple):
    """A row of store_status_now: instants are naive UTC datetimes (microseconds)."""

    store_id: str
    state: str  # up | down | silent | closed
    is_open: bool
    last_poll_at: datetime | None
    last_status: str | None  # active | inactive
    state_since: datetime | None
    closes_at: datetime | None
    opens_at: datetime | None


@dataclass(frozen=True)
class StatusChange:
    """A store whose row differs from the previous evaluation's. `old` is None for a store
    not seen before (every store, at the first evaluation after start-up); `new` is None for
    a store that left the fleet (a registration that removed its only rows). `run_polls`: the
    number of polls (distinct instants) in the store's trailing run of polls with
    `new.last_status`, from `new.state_since` (up, down) to `new.last_poll_at`, at `at`
    (0 without a poll): the consecutive inactive polls of a down store."""

    store_id: str
    old: StatusRow | None
    new: StatusRow | None
    run_polls: int


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: the status of every store at `at` (naive UTC) now equals the model's;
    `changes` are the stores whose rows differ from the evaluation before."""

    at: datetime
    changes: tuple[StatusChange, ...]


Listener = Callable[[Evaluation], None]
