"""flaskpypi's gunicorn worker (`flaskpypi.worker.Worker`): gunicorn's gthread worker with three changes.

1. A new connection waits for its first request in the poller, not in a thread. gthread hands each accepted
   connection to a thread, which waits up to 5 s for the first bytes: a client that opens connections ahead
   of use (uv's HTTP pool does) could leave every thread of a worker waiting on silent sockets while ready
   requests queued behind them. That was the 5-10 s stall of `uv pip install`.
2. New connections are spread over the workers. All workers poll one listening socket and the first awake
   takes what arrives, so a burst (a client's pool, a load test) used to land on one worker while the other
   sat idle. A worker now leaves a new connection to a sibling that holds fewer open connections (their
   counts sit in memory shared by the workers), for a moment only (BALANCE_WAIT): a busy or stuck sibling
   never delays a connection by more than that.
3. A worker that reaches `worker_connections` closes its longest-idle kept-alive connection instead of
   refusing new ones until some time out (as nginx does), so idle clients never lock others out.

Kept-alive connections cost no thread while idle, so the keep-alive timeout can be long (serving.py).
"""

from __future__ import annotations

import errno
import mmap
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, TConn, ThreadWorker

SLOTS = 128  # one per live worker (by age); more than anyone runs on one host
BALANCE_WAIT = 0.02  # seconds a new connection may be left to a less busy sibling, at most
PAUSE = 0.001  # seconds between two looks at the listener while leaving it to a sibling
UNUSED = -1

# Created when the master imports this module, before it forks: every worker sees the same memory.
_shared = mmap.mmap(-1, SLOTS * 8)
COUNTS = memoryview(_shared).cast("q")
for _slot in range(SLOTS):
    COUNTS[_slot] = UNUSED


def release_slot(age: int) -> None:
    """The master's child_exit hook: a dead worker's count no longer takes part in balancing."""
    COUNTS[age % SLOTS] = UNUSED


class Worker(ThreadWorker):
    """gthread with silent new connections in the poller, balanced accepts and idle connections recycled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = self.age % SLOTS
        self._paused_until = 0.0
        self._declining_since = 0.0
        self._last_decline = 0.0

    def run(self) -> None:
        """Serve (the app is loaded by now: only then does this worker take part in balancing)."""
        COUNTS[self.slot] = 0
        try:
            super().run()
        finally:
            COUNTS[self.slot] = UNUSED

    # -- balancing ------------------------------------------------------------------------------

    def _publish(self) -> None:
        COUNTS[self.slot] = self.nr_conns

    def _sibling_less_busy(self) -> bool:
        mine = self.nr_conns
        return any(0 <= count < mine for slot, count in enumerate(COUNTS) if slot != self.slot)

    def _leave_to_sibling(self, now: float) -> bool:
        """Whether to leave the waiting connection to a less busy sibling for a moment longer."""
        if not self._sibling_less_busy():
            return False
        if now - self._last_decline > 4 * PAUSE:  # a new connection: its wait starts now
            self._declining_since = now
        self._last_decline = now
        return now - self._declining_since < BALANCE_WAIT

    def set_accept_enabled(self, enabled: bool) -> None:
        if enabled and time.monotonic() < self._paused_until:
            enabled = False
        super().set_accept_enabled(enabled)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        self._publish()
        if self._paused_until:
            left = self._paused_until - time.monotonic()
            if left <= 0:
                self._paused_until = 0.0
                self.set_accept_enabled(self.nr_conns < self.worker_connections)
            else:
                timeout = min(timeout, left)
        super().wait_for_and_dispatch_events(timeout)
        self._publish()

    def accept(self, listener: Any) -> None:
        """Take a new connection (unless a less busy sibling should) and wait for its request in the poller."""
        now = time.monotonic()
        if self._leave_to_sibling(now):
            self._paused_until = now + PAUSE
            self.set_accept_enabled(False)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self._publish()
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        conn.timeout = now + DEFAULT_WORKER_DATA_TIMEOUT + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(client_sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))

    # -- idle connections -----------------------------------------------------------------------

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        while self.keepalived_conns and self.nr_conns >= self.worker_connections:
            conn = self.keepalived_conns.popleft()  # the longest idle
            try:
                self.poller.unregister(conn.sock)
            except (OSError, KeyError, ValueError):
                pass
            self.nr_conns -= 1
            conn.close()
