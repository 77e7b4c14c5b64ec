"""Loading under load: one visitor's model load never stalls another's request; hub failures are fast."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from mlm_explorer import models
from mlm_explorer.models import ModelLoadError, load_model
from mlm_explorer.predict import predict


@pytest.fixture(autouse=True)
def _fresh_cache():
    models.clear_cache()
    yield
    models.clear_cache()


def _blocking_loader(monkeypatch, release: threading.Event, calls: list, fail: bool = False):
    """Make loads of ids starting with "slow/" block until ``release`` (hub ids only; folders load)."""
    real = models._load_uncached

    def load(name, device, bundled):
        if name.startswith("slow/"):
            calls.append(name)
            release.wait(30)
            if fail:
                raise ModelLoadError(f"Could not fetch {name}: the hub is unreachable.")
        return real(name, device, bundled)

    monkeypatch.setattr(models, "_load_uncached", load)


@pytest.mark.parametrize("fail", [False, True], ids=["load-runs", "load-fails"])
def test_a_load_in_progress_never_delays_a_loaded_model(monkeypatch, tiny_bert_dir: Path, fail: bool) -> None:
    lm = load_model(tiny_bert_dir)
    release, calls = threading.Event(), []
    _blocking_loader(monkeypatch, release, calls, fail=fail)
    loaders = [
        threading.Thread(target=lambda i=i: _swallow(lambda: load_model(f"slow/model-{i}")), daemon=True)
        for i in range(3)
    ]
    for t in loaders:
        t.start()
    while len(calls) < 3:  # every load is in progress, none finished
        time.sleep(0.01)
    delays = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert load_model(tiny_bert_dir) is lm
        predict(lm, "the cat sat on the [MASK] .")
        delays.append(time.perf_counter() - t0)
    release.set()
    for t in loaders:
        t.join(10)
    assert max(delays) <= 0.5, delays


def test_same_model_loads_once_for_concurrent_callers(monkeypatch) -> None:
    release, calls = threading.Event(), []
    _blocking_loader(monkeypatch, release, calls, fail=True)
    errors: list[str] = []
    threads = [
        threading.Thread(target=lambda: errors.append(_swallow(lambda: load_model("slow/same"))))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)
    release.set()
    for t in threads:
        t.join(10)
    assert calls == ["slow/same"]  # single flight
    assert len(errors) == 5 and all("unreachable" in e for e in errors)
    # A failed hub id is answered from memory for a while: no new request to the hub.
    t0 = time.perf_counter()
    with pytest.raises(ModelLoadError):
        load_model("slow/same")
    assert calls == ["slow/same"] and time.perf_counter() - t0 < 0.1


def test_unreachable_hub_fails_fast_without_retries(monkeypatch) -> None:
    # Not offline by setting, but the hub's address refuses connections: one probe, then local files only.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    t0 = time.perf_counter()
    with pytest.raises(ModelLoadError, match="unreachable from this server"):
        load_model("nobody-here/unreachable-model-1")
    assert time.perf_counter() - t0 < 5
    assert models.hub_reachable() is False


def test_offline_setting_is_said_plainly(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=r"runs offline \(HF_HUB_OFFLINE\)"):
        load_model("nobody-here/unreachable-model-2")


def test_cli_unknown_hub_id_offline_is_one_line_and_fast(tmp_path) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there: the hub is unreachable
    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mlm_explorer", "predict", "--model", "nobody-here/x", "a [MASK] b"],
        capture_output=True, text=True, env=env, cwd=root, timeout=60,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unreachable" in lines[0], proc.stderr
    assert elapsed < 15, elapsed  # interpreter + torch import dominate; no 25 s of retries


def _swallow(fn) -> str:
    try:
        fn()
    except ModelLoadError as err:
        return str(err)
    return ""
