"""Download exports: fresh unique files per call, old ones pruned (at most once a minute)."""

from __future__ import annotations

import json
import os
import time

import gradio as gr
import pandas as pd
import pytest

from mlm_explorer.ui import common


def test_exports_are_unique_and_old_ones_are_pruned(monkeypatch) -> None:
    table = pd.DataFrame({"token": ["<b>x</b>"], "prob": [0.5]})
    common._EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    stale = common._EXPORT_DIR / "fill-stale.csv"
    stale.write_text("old", encoding="utf-8")
    old = time.time() - common._EXPORT_MAX_AGE_S - 10
    os.utime(stale, (old, old))
    monkeypatch.setattr(common, "_last_prune", 0.0)
    first = common.write_exports(table, "fill")
    second = common.write_exports(table, "fill")
    assert not stale.exists()
    assert first != second and all(os.path.exists(p) for p in (*first, *second))
    assert "<b>x</b>" in open(first[0], encoding="utf-8").read()  # data, verbatim, never rendered
    # within the minute no second scan: a stale file written now survives the next export
    stale.write_text("old", encoding="utf-8")
    os.utime(stale, (old, old))
    common.write_exports(table, "fill")
    assert stale.exists()
    stale.unlink()


def test_a_download_is_written_from_the_sessions_table_only_when_asked() -> None:
    mine, theirs = common.new_session(), common.new_session()
    with pytest.raises(gr.Error, match="Nothing to download yet: press Predict first"):
        common.export_table(mine, stem="fill", fmt="csv", hint="press Predict")
    table = pd.DataFrame({"pos.": [2], "p(top-1)": [0.1234]})
    common.remember_export(mine, "fill", table)
    path = common.export_table(mine, stem="fill", fmt="json", hint="press Predict")
    assert json.loads(open(path, encoding="utf-8").read()) == [{"pos.": 2, "p(top-1)": 0.1234}]  # raw numbers
    assert open(common.export_table(mine, stem="fill", fmt="csv", hint="x"), encoding="utf-8").read() == (
        "pos.,p(top-1)\n2,0.1234\n"
    )
    with pytest.raises(gr.Error, match="Nothing to download yet"):
        common.export_table(theirs, stem="fill", fmt="csv", hint="press Predict")
    common.forget_export(mine, "fill")
    with pytest.raises(gr.Error, match="Nothing to download yet"):
        common.export_table(mine, stem="fill", fmt="csv", hint="press Predict")
