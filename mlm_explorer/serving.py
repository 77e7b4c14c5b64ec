"""One inference worker for a whole server: requests that arrive together share a forward pass.

A class pressing "Predict" at once sends thirty small forward passes through
a two-core machine. Run one after another, or thirty at a time on thirty
threads that fight over the same cores (``torch.set_num_threads`` is
process-wide), they cost far more than one padded batch of thirty rows. So
every model call of :mod:`mlm_explorer.predict` goes through
:class:`InferenceWorker`:

- callers on any thread :meth:`~InferenceWorker.submit` an item and wait on a
  :class:`~concurrent.futures.Future`; one worker thread runs the model;
- the worker takes what is queued, and when requests come from several threads
  waits a few milliseconds for the rest of a burst (``window_s``); a lone caller
  (a notebook, the CLI) never waits;
- items are grouped by a key (model, kind of pass) and handed to the group's
  ``run`` function in one call, which pads them into one batch;
- a batch is bounded in rows and in ``rows × length²`` (the size of the
  attention score tensor, the largest activation of an encoder), so a burst of
  long inputs is split into several passes and memory stays bounded.

Threads: :func:`configure_threads` (called by ``app.py``) gives torch the cores
less one, so the model never fights Gradio's own threads for the last core.
Fine-tuning shares the model's threads (the setting is process-wide): it calls
:func:`yield_to_inference` between steps, which waits (briefly) while inference
work is queued or running, so a training slows a class's clicks by at most one
training step.

This module knows nothing of models or tokens: ``predict.py`` supplies the
batched forward pass. It does not import gradio.

Example::

    >>> worker = InferenceWorker(ServingConfig(window_s=0.0))
    >>> worker.call("double", lambda items: [2 * x for x in items], 21)
    42
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: Environment variable: "0" runs every model call on the caller's thread (no worker, no batching).
BATCHING_ENV = "MLM_EXPLORER_BATCHING"
#: Environment variable: intra-op threads for torch (default: the cores less one, at least one).
THREADS_ENV = "MLM_EXPLORER_THREADS"
#: Environment variable: MB of results (logits, attention maps) requests may hold at once.
MEMORY_ENV = "MLM_EXPLORER_INFERENCE_MEMORY_MB"
# Eight of the largest requests at once (512 blanks x 30,522 logits = 62 MB): the bound the server
# had when it ran eight model events at a time, now by weight, so thirty small ones run together.
DEFAULT_MEMORY_MB = 512


@dataclass(frozen=True)
class ServingConfig:
    """How the inference worker groups requests."""

    # Gradio starts a burst's events within a few ms of each other; waiting longer adds latency
    # to every click for little more batching (bench/classroom.py).
    window_s: float = 0.005
    # Rows of one forward pass: a class of 30, two sentences each, fits in one pass.
    max_rows: int = 512
    # rows × length² ≤ this: the eager attention scores are (rows, heads, T, T) floats, so 2**20
    # cells × 12 heads × 4 bytes ≈ 50 MB at most, and hidden states far less.
    max_cells: int = 2**20
    # Trimming the heap after a pass this large returns its activations to the OS (glibc keeps
    # freed mid-sized blocks otherwise, and RSS would stay at the peak).
    trim_after_cells: int = 2**18


@dataclass
class _Request:
    key: Hashable
    run: Callable[[list], list]
    item: Any
    rows: int
    length: int
    thread: int
    future: Future = field(default_factory=Future)

    @property
    def cells(self) -> int:
        return self.rows * self.length * self.length


class InferenceWorker:
    """A single thread that runs grouped requests; see the module docstring."""

    def __init__(self, config: ServingConfig | None = None) -> None:
        self.config = config or ServingConfig()
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._put_lock = threading.RLock()  # re-entrant: a run function may submit from the worker
        self._idle = threading.Condition()
        self._pending = 0  # submitted and not yet answered
        self._last_thread: int | None = None  # who submitted last, to tell a burst from a lone caller
        self._last_other = 0.0  # when a second thread last submitted
        self.passes = 0  # forward groups run (for tests and benchmarks)
        self.items = 0  # items answered

    # ----------------------------------------------------------------- callers

    def submit(
        self, key: Hashable, run: Callable[[list], list], item: Any, rows: int = 1, length: int = 1
    ) -> Future:
        """Queue ``item``; ``run(items)`` is called with every queued item of the same ``key``.

        ``run`` must return one result per item, in order. ``rows`` and
        ``length`` size the item for the batch bounds (rows × length²).
        """
        request = _Request(key, run, item, max(1, rows), max(1, length), threading.get_ident())
        if threading.current_thread() is self._thread:  # a run function calling back in: no deadlock
            self._run_group([request], counted=False)
            return request.future
        self._ensure_thread()
        with self._idle:
            self._pending += 1
            if self._last_thread is not None and request.thread != self._last_thread:
                self._last_other = time.monotonic()
            self._last_thread = request.thread
        self._queue.put(request)
        return request.future

    def submit_many(
        self, key: Hashable, run: Callable[[list], list], items: Sequence, sizes: Sequence[tuple[int, int]]
    ) -> list[Future]:
        """:meth:`submit` every item, queued as one unit: the worker never takes only the first of them."""
        with self._put_lock:  # the worker waits on this lock before it gathers a batch
            return [self.submit(key, run, item, rows, length) for item, (rows, length) in
                    zip(items, sizes, strict=True)]

    def call(self, key: Hashable, run: Callable[[list], list], item: Any, rows: int = 1, length: int = 1):
        """:meth:`submit` and wait for the answer (re-raises the run function's exception)."""
        return self.submit(key, run, item, rows, length).result()

    def busy(self) -> bool:
        """True while requests are queued or running."""
        with self._idle:
            return self._pending > 0

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued or running, at most ``timeout`` s; True if idle."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # ----------------------------------------------------------------- the worker thread

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="mlm-inference", daemon=True)
                self._thread.start()

    def _burst(self) -> bool:
        # Several threads submitted within the last second: more of the burst may be on its way.
        return time.monotonic() - self._last_other < 1.0

    def _loop(self) -> None:
        carry: list[_Request] = []
        while True:
            batch = carry or [self._queue.get()]
            carry = []
            with self._put_lock:  # a caller queueing several items has queued them all
                pass
            deadline = time.monotonic() + (self.config.window_s if self._burst() else 0.0)
            while True:
                try:
                    remaining = deadline - time.monotonic()
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                    batch.append(nxt)
                except queue.Empty:
                    break
            groups: dict[Hashable, list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.key, []).append(request)
            for requests in groups.values():
                carry += self._run_bounded(requests)

    def _run_bounded(self, requests: list[_Request]) -> list[_Request]:
        """Run the first requests that fit the bounds as one group; return the rest for the next round."""
        taken, rows, longest = [], 0, 0
        for request in requests:
            new_rows, new_longest = rows + request.rows, max(longest, request.length)
            fits = new_rows <= self.config.max_rows and new_rows * new_longest**2 <= self.config.max_cells
            if taken and not fits:
                break
            taken.append(request)
            rows, longest = new_rows, new_longest
        self._run_group(taken)
        if rows * longest**2 >= self.config.trim_after_cells:
            trim_heap()
        return requests[len(taken):]

    def _run_group(self, requests: list[_Request], counted: bool = True) -> None:
        try:
            results = requests[0].run([r.item for r in requests])
            if len(results) != len(requests):
                raise RuntimeError(f"run returned {len(results)} results for {len(requests)} items")
        except BaseException as err:  # noqa: BLE001 - handed to every waiting caller
            for r in requests:
                r.future.set_exception(err)
        else:
            for r, result in zip(requests, results, strict=True):
                r.future.set_result(result)
        self.passes += 1
        self.items += len(requests)
        if counted:
            with self._idle:
                self._pending -= len(requests)
                if self._pending == 0:
                    self._idle.notify_all()


class CostGate:
    """Admit callers while the sum of their declared costs fits a budget; the rest wait their turn.

    A web server bounds work by counting events at once, but a class's thirty
    one-blank Predicts and one visitor's 512-blank text are not the same
    weight. Callers declare what they will hold (bytes of logits and attention
    maps) and wait while the budget is spent, so a burst of small requests is
    served together and large ones queue. A caller larger than the whole
    budget runs alone (never refused: the per-endpoint caps bound it).

        >>> gate = CostGate(budget=100)
        >>> with gate.admit(60):
        ...     gate.in_use
        60
    """

    def __init__(self, budget: int) -> None:
        self.budget = max(1, int(budget))
        self.in_use = 0
        self._cond = threading.Condition()

    @contextmanager
    def admit(self, cost: int):
        """Hold ``cost`` of the budget for the ``with`` block (waiting until it fits)."""
        cost = min(max(0, int(cost)), self.budget)
        with self._cond:
            self._cond.wait_for(lambda: self.in_use + cost <= self.budget)
            self.in_use += cost
        try:
            yield
        finally:
            with self._cond:
                self.in_use -= cost
                self._cond.notify_all()


def trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc's ``malloc_trim``; a no-op elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, which containers set), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """Size torch's intra-op pool for a server: ``$MLM_EXPLORER_THREADS``, else the cores less one.

    ``torch.set_num_threads`` is process-wide, and on a 2-core server the
    inference worker is never alone: Gradio's event loop and handlers (plots,
    tables) and a fine-tuning run beside it. Two OpenMP threads then wait at
    every barrier for a core that is busy: measured with a class's burst on a
    loaded 2-core machine, one forward took 450 ms with 2 threads and 40 ms with
    1. One core for the model, one for everything else; more cores, more threads.
    Returns the number set.
    """
    import torch

    raw = os.environ.get(THREADS_ENV, "").strip()
    try:
        threads = int(raw) if raw else available_cores() - 1
    except ValueError:
        threads = available_cores() - 1
    threads = max(1, threads)
    torch.set_num_threads(threads)
    return threads


@contextmanager
def all_cores(enabled: bool = True):
    """Run the ``with`` block with torch on every available core, then restore the thread count.

    For the inference worker's large passes only (it is the one thread running the
    model, so nothing else sees the change); ``enabled=False`` changes nothing.
    """
    import torch

    before = torch.get_num_threads()
    wide = available_cores()
    if not enabled or wide <= before:
        yield
        return
    torch.set_num_threads(wide)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (``mallopt(M_ARENA_MAX)``); a no-op elsewhere.

    glibc gives each thread that allocates concurrently its own arena, up to 8 per
    core; a server whose handler threads each touch tens of MB then keeps that
    much per thread after the work is done. Two arenas keep RSS near what is in use.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, int(arenas))  # -8 = M_ARENA_MAX (malloc.h)
    except (OSError, AttributeError):
        pass


def batching_enabled() -> bool:
    """False when ``$MLM_EXPLORER_BATCHING`` is "0": every call then runs on its caller's thread."""
    return os.environ.get(BATCHING_ENV, "").strip().lower() not in {"0", "false", "no", "off"}


_worker = InferenceWorker()


def _memory_budget() -> int:
    raw = os.environ.get(MEMORY_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MEMORY_MB
    except ValueError:
        mb = DEFAULT_MEMORY_MB
    return int(max(1.0, mb) * 2**20)


_gate = CostGate(_memory_budget())


def worker() -> InferenceWorker:
    """The process's inference worker."""
    return _worker


def run_batched(
    key: Hashable, run: Callable[[list], list], items: Sequence, sizes: Sequence[tuple[int, int]]
) -> list:
    """Submit ``items`` (sized ``(rows, length)`` each) together and return their results in order."""
    if not batching_enabled():
        return [run([item])[0] for item in items]
    return [f.result() for f in _worker.submit_many(key, run, items, sizes)]


def admit(cost_bytes: int):
    """Context manager: hold ``cost_bytes`` of the process's inference memory budget (:class:`CostGate`)."""
    return _gate.admit(cost_bytes)


def yield_to_inference(max_wait_s: float = 2.0) -> None:
    """Called by training loops between steps: let queued inference run first.

    Returns at once when no inference is waiting; otherwise waits until the
    worker is idle, at most ``max_wait_s`` seconds, so training still advances
    under a steady stream of clicks.
    """
    if _worker.busy():
        _worker.wait_idle(max_wait_s)
