"""JSON polls from many concurrent requests, staged and committed together.

Staging one row costs about as much as staging thousands (DuckDB spends the time planning the
staging SQL), and a commit syncs the log to disk. So one thread takes every request waiting
at that moment, stages all their rows in one pass and stores the valid requests' rows in one
transaction, then answers each request. A request stays all or nothing: a rejected row fails
its own request (422, rows numbered within it) and no other.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from contextlib import closing

from storemon.service.errors import InvalidRows
from storemon.service.inbox import Inbox
from storemon.service.validation import rows_to_table

MAX_ROWS = 100_000  # per combined batch, beyond the first request


class PollBatcher:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.requests: queue.Queue[tuple[list[dict], Future] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="storemon-polls", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.requests.put(None)
        if self.thread.is_alive():  # not when the service failed to start
            self.thread.join(timeout=60)

    def submit(self, polls: list[dict]) -> Future:
        """Queue `polls` to be stored (all, or none when one is invalid); the future's result is
        the number stored."""
        answer: Future = Future()
        self.requests.put((polls, answer))
        return answer

    def _run(self) -> None:
        # One cursor for the thread's life: opening one (and setting its zone) per group cost
        # about a tenth of a group's time.
        with closing(self.inbox.cursor()) as cursor:
            self._serve(cursor)

    def _serve(self, cursor) -> None:
        while (first := self.requests.get()) is not None:
            batch, rows = [first], len(first[0])
            while rows < MAX_ROWS:
                try:
                    waiting = self.requests.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    self.requests.put(None)  # stop after this batch
                    break
                batch.append(waiting)
                rows += len(waiting[0])
            # A request awaited on the event loop is cancelled with its task (the server
            # stopping, say): cancelled before its turn, it is dropped and stores nothing; from
            # here on it cannot be cancelled, so answering it cannot fail.
            batch = [request for request in batch if request[1].set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                outcomes = self._store(cursor, batch)
            except BaseException as error:
                outcomes = [error] * len(batch)
            for (_, answer), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    answer.set_exception(outcome)
                else:
                    answer.set_result(outcome)

    def _store(self, cursor, batch: list[tuple[list[dict], Future]]) -> list[int | BaseException]:
        raw = "request_polls"
        rows_to_table(cursor, "store_status", [row for polls, _ in batch for row in polls], raw)
        staged = self.inbox.stage(cursor, "store_status", raw, keep=None)
        outcomes: list[int | BaseException] = []
        start = 0
        for polls, _ in batch:
            end = start + len(polls)
            problems = [
                {**problem, "row": problem["row"] - start}
                for problem in staged.first_rejected
                if start < problem["row"] <= end
            ]
            if problems:
                outcomes.append(InvalidRows(problems[:10]))
                cursor.execute(
                    f"delete from {staged.staged_table} where source_row_number between $1 and $2",
                    [start + 1, end],
                )
            else:
                outcomes.append(len(polls))
            start = end
        self.inbox.add_polls(cursor, staged)
        return outcomes
