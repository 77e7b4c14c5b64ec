"""The Fine-tune tab's training job: server-wide admission, one worker thread per run, the zip.

No layout here (the tab, ``ui/finetune.py``, lays out and wires; this module
runs): a :class:`Job` runs :func:`mlm_explorer.finetune.finetune` in a worker
thread, records what its ``on_step`` callback reports, and is stopped through
a :class:`threading.Event` that the library checks every step.

- :data:`SLOTS` admits trainings across all sessions, first come first served,
  at most ``MLM_EXPLORER_MAX_TRAININGS`` at once (two trainings on two vCPUs each
  run at less than half speed, so queueing is faster for everyone).
- :func:`claim` admits at most one job per session, atomically: two starts
  from one page at the same instant cannot both run.
- A finished job keeps its result (the trained model) in the job, not in the
  session's chosen model: the other tabs change model only when the user
  presses "Use" (:func:`adopt`).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from mlm_explorer import serving
from mlm_explorer.data import TextData
from mlm_explorer.finetune import FinetuneConfig, FinetuneResult, Probe, StepInfo, finetune, save_finetuned
from mlm_explorer.models import LoadedModel
from mlm_explorer.ui import common
from mlm_explorer.ui.state import Session

#: Environment variable: how many trainings the whole server runs at once (the rest queue).
MAX_TRAININGS_ENV = "MLM_EXPLORER_MAX_TRAININGS"
# One at a time by default: two trainings on two vCPUs each run at less than half
# speed (PyTorch's intra-op threads contend), so queueing is faster for everyone.
_DEFAULT_MAX_TRAININGS = 1
_JOB_KEY = "finetune_job"
OUT_ROOT: Path = common.FINETUNED_DIR  # one folder, also counted by the app's disk budget
OUT_MAX_AGE_S = 30 * 60  # zips are one-shot downloads; older ones are pruned (bounds the disk a Space uses)


class TrainingSlots:
    """First-come-first-served admission of trainings across all sessions.

    A server resource (how many CPUs may train at once), not user data: it
    holds only opaque tickets, never a session's text or model.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[str] = []
        self._running: set[str] = set()

    @staticmethod
    def limit() -> int:
        try:
            return max(1, int(os.environ.get(MAX_TRAININGS_ENV, _DEFAULT_MAX_TRAININGS)))
        except ValueError:
            return _DEFAULT_MAX_TRAININGS

    def join(self, ticket: str) -> None:
        with self._lock:
            self._waiting.append(ticket)

    def try_start(self, ticket: str) -> int:
        """0 if ``ticket`` may start now (and is counted as running), else its queue position."""
        with self._lock:
            if ticket in self._running:
                return 0
            position = self._waiting.index(ticket) + 1
            if position == 1 and len(self._running) < self.limit():
                self._waiting.pop(0)
                self._running.add(ticket)
                return 0
            return position

    def leave(self, ticket: str) -> None:
        with self._lock:
            self._running.discard(ticket)
            if ticket in self._waiting:
                self._waiting.remove(ticket)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)


SLOTS = TrainingSlots()


@dataclass
class Job:
    """One training of one session: the thread, its Stop, and what it has reported so far."""

    config: FinetuneConfig
    ticket: str = field(default_factory=lambda: uuid.uuid4().hex)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    info: StepInfo | None = None
    live_probes: tuple[Probe, ...] = ()
    result: FinetuneResult | None = None
    error: str | None = None
    data_source: str = ""
    thread: threading.Thread | None = None

    def on_step(self, step: int, loss: float, info: StepInfo) -> None:
        """The library's callback (worker thread): record, then let queued inference go first."""
        with self.lock:
            self.steps.append(step)
            self.losses.append(loss)
            self.info = info
            if info.probes is not None:
                self.live_probes = info.probes
        # Outside the lock (the tab's redraw reads it): returns at once when no Predict is
        # queued, else waits at most 2 s, so a class's clicks are not starved by a training.
        serving.yield_to_inference()

    def snapshot(self) -> tuple[list[int], list[float], StepInfo | None, tuple[Probe, ...]]:
        with self.lock:
            return list(self.steps), list(self.losses), self.info, self.live_probes

    @property
    def running(self) -> bool:
        return not self.done.is_set()

    def start(self, lm: LoadedModel, data: TextData, probes: tuple[str, ...]) -> None:
        """Train in a worker thread (call once :data:`SLOTS` admitted the ticket)."""
        self.data_source = data.source
        self.thread = threading.Thread(
            target=self._run, args=(lm, data, probes), daemon=True, name=f"finetune-{self.ticket[:8]}"
        )
        self.thread.start()

    def _run(self, lm: LoadedModel, data: TextData, probes: tuple[str, ...]) -> None:
        try:
            self.result = finetune(lm, data, self.config, probes=probes, on_step=self.on_step, stop=self.stop)
        except (ValueError, RuntimeError, MemoryError) as err:  # bad input, out of memory
            self.error = " ".join(str(err).split()) or type(err).__name__
        finally:
            self.finish()

    def finish(self) -> None:
        """Free the slot and mark the job done (also for a job that never started)."""
        SLOTS.leave(self.ticket)
        self.done.set()


# One lock for every session's check-and-set: held for a dictionary look-up, never while training.
_ADMISSION = threading.Lock()


def current_job(session: Session) -> Job | None:
    job = session.extras.get(_JOB_KEY)
    return job if isinstance(job, Job) else None


def claim(session: Session, job: Job) -> bool:
    """Make ``job`` the session's job unless one is still running; atomic across threads."""
    with _ADMISSION:
        current = current_job(session)
        if current is not None and current.running:
            return False
        session.extras[_JOB_KEY] = job
        return True


def adopt(session: Session) -> str:
    """Make the session's last finished training its model in every tab; returns its label.

    The only way a trained model reaches the other tabs: a run never replaces the
    model a session chose until the user asks for it.
    """
    job = current_job(session)
    result = job.result if job is not None and not job.running else None
    if result is None:
        if job is not None and job.running:
            raise ValueError("The training is still running: wait for it to finish, or stop it.")
        raise ValueError("No model has been fine-tuned in this session yet.")
    if session.own_model is None or session.own_model.model is not result.model:
        kind = "fresh model" if result.config.from_scratch else "fine-tuned"
        session.own_model = LoadedModel(
            name=f"fine-tuned: {job.data_source}", model=result.model, tokenizer=result.tokenizer,
            device=next(result.model.parameters()).device,
        )
        session.own_label = f"{kind} on {job.data_source}, {result.steps} steps"
    session.use_own_model()
    return session.own_label


def save_zip(result: FinetuneResult) -> str:
    """Write the model folder and its zip under a unique temporary name; return the zip path.

    Then the app's disk budget is enforced: a bert-base zip is ~400 MB, so a few
    runs could otherwise fill a Space's disk before the periodic sweep comes.
    """
    OUT_ROOT.mkdir(parents=True, exist_ok=True)
    common.prune_older(OUT_ROOT, OUT_MAX_AGE_S)
    folder = OUT_ROOT / uuid.uuid4().hex[:12] / "finetuned-model"
    saved = save_finetuned(result, folder)
    shutil.rmtree(saved.folder, ignore_errors=True)  # the zip is what is downloaded
    common.enforce_disk_budget()
    return str(saved.zip_path)
