"""A discrete-event clock that runs real, blocking handler code in virtual time.

The speaker-search handler is ordinary synchronous code: it reads a clock, sleeps between retries
and waits for API responses. To replay minutes of traffic through it in seconds, and to run many
"Lambda instances" side by side without 2 shared cores deciding the outcome, each instance runs in
its own thread but only ONE thread runs at any moment:

* The scheduler pops the earliest event from a heap, sets ``now`` to its time and runs it. An
  event may hand control to a worker thread, and then waits until that thread hands it back.
* A worker hands control back only by calling :meth:`VirtualTime.sleep` (the handler's backoff
  sleep, or the latency of a fake API call), which schedules its own wake-up, or by finishing its
  job. Time therefore never passes while code runs: CPU time is zero, waits cost exactly what the
  model says, and the result does not depend on the machine's load.
* Events at the same time run in the order they were scheduled, and there is one seeded random
  source per run, so a run is deterministic: the same parameters give the same figures.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._returned = threading.Semaphore(0)  # a worker gave control back to the scheduler
        self.current: Worker | None = None

    # -- scheduler side ------------------------------------------------------------------------

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._seq), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + max(0.0, delay), action)

    def run(self, until: float, stop: Callable[[], bool] = lambda: False) -> None:
        """Run events in time order until none is left, the next is after ``until``, or ``stop()``."""
        while self._heap and self._heap[0][0] <= until and not stop():
            when, _, action = heapq.heappop(self._heap)
            self.now = when
            action()

    def resume(self, worker: Worker) -> None:
        """Let ``worker`` run until it sleeps or finishes its job (called by events only)."""
        self.current = worker
        worker.go.release()
        self._returned.acquire()
        self.current = None

    # -- worker side ---------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Block the calling worker for ``seconds`` of virtual time; other workers run meanwhile."""
        worker = self.current
        if worker is None or threading.current_thread() is not worker.thread:
            raise RuntimeError("VirtualTime.sleep called outside a worker's turn")
        self.after(seconds, lambda: self.resume(worker))
        self._returned.release()
        worker.go.acquire()


@dataclass
class Worker:
    """One thread that runs jobs handed to it by :meth:`start` (a Lambda execution environment)."""

    clock: VirtualTime
    name: str
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    job: Callable[[], Any] | None = None
    busy: bool = False
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self.thread.start()

    def start(self, job: Callable[[], Any]) -> None:
        """Run ``job`` in this worker's thread, starting now (scheduler side)."""
        if self.busy:
            raise RuntimeError(f"{self.name} is busy")
        self.job, self.busy = job, True
        self.clock.resume(self)

    def stop(self) -> None:
        self.job = None
        self.go.release()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            self.go.acquire()
            job = self.job
            if job is None:
                return
            try:
                job()
            finally:
                self.job, self.busy = None, False
                self.clock._returned.release()
