"""App-level serving fixes: readable status lines, no HTTP 500 for a refused value, a disk budget."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("gradio")
import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mlm_explorer.ui import common, load_model_by_name  # noqa: E402
from tests.app_server import running_app  # noqa: E402

HOSTILE_NAME = "'<script>alert(1)</script>'"


def test_status_line_escapes_once() -> None:
    escaped = common.md_escape(HOSTILE_NAME)
    assert "<" not in escaped and "&#x27;" not in escaped and "&\\#" not in escaped
    session = common.new_session()
    _, _, status, _ = load_model_by_name(HOSTILE_NAME, session)
    # What a visitor reads after Markdown rendering: quotes as quotes, markup as text.
    assert "&#x27;" not in status and "&\\#x27;" not in status and "&amp;" not in status
    assert "&lt;script&gt;" in status and "<script>" not in status
    assert common.toast_text("a < b 'c'") == "a &lt; b &#x27;c&#x27;"  # toasts render HTML


def _fill(folder: Path, name: str, size: int, age_s: float) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_disk_budget_removes_oldest_first_and_keeps_fresh_files(tmp_path) -> None:
    cache, exports = tmp_path / "cache", tmp_path / "exports"
    oldest = _fill(cache, "a/old.zip", 400, age_s=3000)
    middle = _fill(exports, "mid.csv", 300, age_s=2000)
    recent = _fill(cache, "b/recent.zip", 300, age_s=1000)
    fresh = _fill(exports, "fresh.json", 500, age_s=5)  # being written or downloaded: kept
    sweep = common.enforce_disk_budget(budget=900, dirs=(cache, exports))
    assert sweep.bytes_before == 1500
    assert not oldest.exists() and not middle.exists()
    assert recent.exists() and fresh.exists()
    assert sweep.bytes_after == 800 and sweep.files_removed == 2
    assert not (cache / "a").exists() and cache.exists()  # emptied folders go, the roots stay
    # Over budget with only fresh files left: nothing young is removed.
    sweep = common.enforce_disk_budget(budget=100, dirs=(cache, exports))
    assert fresh.exists() and sweep.bytes_after == 500


def test_disk_budget_setting(monkeypatch) -> None:
    monkeypatch.setenv(common.DISK_BUDGET_ENV, "300")
    assert common.disk_budget_bytes() == 300_000_000
    monkeypatch.setenv(common.DISK_BUDGET_ENV, "nonsense")
    assert common.disk_budget_bytes() == 2_000_000_000
    monkeypatch.setenv(common.DISK_BUDGET_ENV, "1")
    assert common.disk_budget_bytes() == 50_000_000  # a floor, so a typo cannot empty the cache each minute
    assert common.FINETUNED_DIR in common.app_disk_dirs()


def test_refused_values_are_messages_and_nothing_skips_the_queue(tiny_bert_dir) -> None:
    with running_app(tiny_bert_dir, allow_local_paths=False) as url:
        client = Client(url, verbose=False)
        assert "10%" in client.predict(0.8, 0.1, api_name="/keep_share")
        for shares in ((5, 0.1), (-3, 2), (1e308, 0)):
            with pytest.raises(AppError, match="value"):
                client.predict(*shares, api_name="/keep_share")
        # A direct POST may not bypass the queue (and its concurrency limits), nor answer 500.
        for api in ("keep_share", "predict"):
            r = httpx.post(f"{url}gradio_api/run/{api}", json={"data": [5, 0.1]}, timeout=30)
            assert r.status_code != 500 and r.status_code >= 400, (api, r.status_code)
        assert "10%" in client.predict(0.8, 0.1, api_name="/keep_share")  # still up
