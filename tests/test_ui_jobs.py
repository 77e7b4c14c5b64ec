"""The Fine-tune job and the serving rules: it yields to queued inference each step, and its zip
counts against the app's disk budget."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio")

from mlm_explorer import serving  # noqa: E402
from mlm_explorer.data import TextData  # noqa: E402
from mlm_explorer.finetune import FinetuneConfig  # noqa: E402
from mlm_explorer.models import load_model  # noqa: E402
from mlm_explorer.ui import common, jobs  # noqa: E402

TEXT = TextData(examples=("the cat sat on the mat .",) * 30, source="pasted text", format="pasted")
STEPS = 4


@pytest.fixture(scope="module")
def finished_job(tiny_bert_dir: Path):
    """A real 4-step training run through :class:`jobs.Job`, counting the yields to inference."""
    calls: list[float] = []
    saved = serving.yield_to_inference
    serving.yield_to_inference = lambda *a, **k: calls.append(time.monotonic())
    try:
        job = jobs.Job(config=FinetuneConfig(steps=STEPS, lr=3e-3, batch_size=8, warmup=0.0, probe_every=0))
        jobs.SLOTS.join(job.ticket)
        assert jobs.SLOTS.try_start(job.ticket) == 0
        job.start(load_model(str(tiny_bert_dir)), TEXT, ())
        assert job.done.wait(60), "training did not finish"
    finally:
        serving.yield_to_inference = saved
    assert job.error is None, job.error
    return job, calls


def test_each_training_step_yields_to_queued_inference(finished_job):
    job, calls = finished_job
    assert job.steps == list(range(1, STEPS + 1))
    assert len(calls) == STEPS  # once per step, from the job's on_step


def test_on_step_records_then_yields(monkeypatch, finished_job):
    job, _ = finished_job
    seen: list[int] = []
    monkeypatch.setattr(serving, "yield_to_inference", lambda *a, **k: seen.append(len(fresh.steps)))
    fresh = jobs.Job(config=job.config)
    fresh.on_step(1, 2.5, job.info)
    fresh.on_step(2, 2.0, job.info)
    assert seen == [1, 2]  # the step is recorded before the wait, so the tab shows it meanwhile


def test_the_output_folder_is_the_one_the_disk_budget_counts():
    assert jobs.OUT_ROOT == common.FINETUNED_DIR
    assert common.FINETUNED_DIR in common.app_disk_dirs()


def test_the_disk_budget_is_enforced_after_the_zip_is_written(monkeypatch, tmp_path, finished_job):
    job, _ = finished_job
    monkeypatch.setattr(jobs, "OUT_ROOT", tmp_path)
    old = tmp_path / "old" / "finetuned-model.zip"
    old.parent.mkdir()
    old.write_bytes(b"x" * 1000)
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))  # older than the two-minute grace, younger than pruning
    monkeypatch.setattr(jobs, "OUT_MAX_AGE_S", 10 * 3600)
    sweeps: list[set[Path]] = []
    real = functools.partial(common.enforce_disk_budget, budget=1, dirs=(tmp_path,))

    def sweep():
        sweeps.append(set(tmp_path.glob("*/*.zip")))  # the zips on disk when the sweep runs
        return real()

    monkeypatch.setattr(common, "enforce_disk_budget", sweep)
    zip_path = Path(jobs.save_zip(job.result))
    # A sweep runs once the new zip is on disk (pruning also sweeps, before it is written).
    assert sweeps and zip_path in sweeps[-1] and all(zip_path not in seen for seen in sweeps[:-1])
    assert zip_path.is_file() and zip_path.stat().st_size > 0  # fresh: kept even over budget
    assert not old.exists() and not old.parent.exists()  # the oldest file went, and its empty folder
