"""What makes the service degraded, for `GET /health` and `GET /metrics` (docs/operating.md,
Signals): the home's disk (a write that failed for lack of space, or little space left), the
inbox (it cannot be read) and the report worker (stopped, or outcomes it cannot record)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

# Below this much free space on the home's disk the service says it is degraded, before a
# write fails.
LOW_DISK_BYTES = 16 * 1024 * 1024


class DiskWatch:
    """Whether the home's disk took the last write that needed it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.lock = threading.Lock()
        self.error: str | None = None  # the last write's failure for lack of space
        self.free_at_error: int | None = None

    def failed(self, error: BaseException) -> None:
        free = self.free_bytes()
        with self.lock:
            self.error = str(error).strip().splitlines()[0] if str(error).strip() else "ENOSPC"
            self.free_at_error = free

    def ok(self) -> None:
        with self.lock:
            self.error = None

    def free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.home).free
        except OSError:
            return None

    def reasons(self) -> list[str]:
        found = []
        free = self.free_bytes()
        with self.lock:
            if (
                free is not None
                and self.free_at_error is not None
                and free > self.free_at_error + LOW_DISK_BYTES
            ):
                self.error = None  # space was freed since: the next write will tell
            if self.error is not None:
                found.append(f"disk: a write to the home failed for lack of space ({self.error})")
        if free is not None and free < LOW_DISK_BYTES:
            found.append(
                f"disk: {free // (1024 * 1024)} MB free on the home's disk"
                f" (under {LOW_DISK_BYTES // (1024 * 1024)} MB)"
            )
        return found
