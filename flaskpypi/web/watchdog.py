"""One thread per process that calls a function when a deadline passes, unless the deadline was cancelled.

Blocking calls that have no timeout of their own (a SQL statement on a connection whose peer stopped
answering, a request body that trickles in) are bounded by arming a deadline before the call and
cancelling it after; the callback unblocks the call (shuts a socket down, shortens a socket timeout).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Deadline:
    """An armed deadline; `cancel()` it when the guarded call returned in time."""

    __slots__ = ("action", "at", "cancelled")

    def __init__(self, at: float, action: Callable[[], float | None]) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        """The call finished: never fire."""
        self.cancelled = True


class Watchdog:
    """A heap of deadlines (time.monotonic() seconds) served by one daemon thread, started on first use.

    An action may return a later monotonic time to be called again then (a deadline that moved).
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """Empty, with no thread (after a fork: the parent's thread is not in the child, and its lock may
        have been held at the fork, so the child gets a new one)."""
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pid: int | None = None

    def arm(self, seconds: float, action: Callable[[], float | None]) -> Deadline:
        """Call `action` in `seconds` unless cancelled first."""
        deadline = Deadline(time.monotonic() + seconds, action)
        with self._wake:
            self._start()
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            self._wake.notify()
        return deadline

    def _start(self) -> None:
        if self._pid is None:
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="flaskpypi-watchdog", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _at, _n, deadline = heapq.heappop(self._heap)
            if deadline.cancelled:
                continue
            try:
                again = deadline.action()
            except Exception:  # an action must never stop the thread that serves every other deadline
                log.exception("Watchdog action failed")
                continue
            if again is not None and not deadline.cancelled:
                deadline.at = again
                with self._wake:
                    heapq.heappush(self._heap, (again, next(self._order), deadline))


watchdog = Watchdog()
