"""Every entry point has a bounded cost, and every file read is a regular file read up to a limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlm_explorer import data
from mlm_explorer.cloze import read_cloze_file
from mlm_explorer.data import DataError, read_file, read_limited
from mlm_explorer.models import load_model
from mlm_explorer.predict import (
    MAX_ITERATIVE_COST,
    check_iterative_cost,
    iterative_fill,
    pseudo_log_likelihood,
)

ROOT = Path(__file__).resolve().parent.parent


def test_iterative_fill_is_capped_and_says_the_cap(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    n_tokens = 60
    most = MAX_ITERATIVE_COST // n_tokens
    check_iterative_cost(most, n_tokens)  # at the cap: allowed
    with pytest.raises(ValueError, match=rf"at most {most} masks") as err:
        check_iterative_cost(most + 1, n_tokens)
    assert f"{MAX_ITERATIVE_COST:,}" in str(err.value)
    # Through the library: a text of only masks, longer than the budget allows.
    text = " ".join([lm.mask_token] * (lm.max_length - 2))
    if (lm.max_length - 2) * lm.max_length > MAX_ITERATIVE_COST:
        with pytest.raises(ValueError, match="once per mask"):
            iterative_fill(lm, text)
    small = iterative_fill(lm, "the [MASK] sat on the [MASK] .")
    assert len(small.steps) == 2


def test_iterative_fill_budget_bounds_the_passes(tiny_bert_dir, monkeypatch) -> None:
    import mlm_explorer.predict as predict_module

    lm = load_model(tiny_bert_dir)
    monkeypatch.setattr(predict_module, "MAX_ITERATIVE_COST", 20)
    with pytest.raises(ValueError, match="masks × tokens ≤ 20"):
        iterative_fill(lm, "the [MASK] [MASK] [MASK] on the mat .")


def test_sentence_score_is_capped_and_says_the_cap(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    sentence = "the cat sat on the mat ."
    n = len(lm.tokenizer(sentence)["input_ids"])
    assert pseudo_log_likelihood(lm, sentence, max_tokens=n).n_scored == n - 2
    with pytest.raises(ValueError, match=rf"limited to {n - 1} tokens; this text has {n}"):
        pseudo_log_likelihood(lm, sentence, max_tokens=n - 1)
    assert pseudo_log_likelihood(lm, sentence, max_tokens=None).n_scored == n - 2


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom"])
def test_device_files_are_refused_without_reading(special: str) -> None:
    if not os.path.exists(special):
        pytest.skip(f"{special} does not exist here")
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="not a regular file"):
        read_limited(special)
    with pytest.raises(DataError, match="not a regular file"):
        read_file(special)
    with pytest.raises(ValueError, match="not a regular file"):
        read_cloze_file(special)
    assert time.perf_counter() - t0 < 1


def test_fifo_is_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        read_file(fifo)


def test_bytes_read_are_capped_whatever_the_size_says(tmp_path, monkeypatch) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 400)
    assert read_limited(big, 2000) == b"word " * 400
    with pytest.raises(DataError, match="over"):
        read_limited(big, 1999)
    monkeypatch.setattr(data, "MAX_BYTES", 100)
    with pytest.raises(DataError, match="limit"):
        read_file(big)
    with pytest.raises(DataError, match="folder"):
        read_limited(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        read_limited(tmp_path / "missing.txt")


def test_cli_refuses_dev_zero_at_once() -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    for argv in (["eval-cloze", "/dev/zero"], ["eval-pairs", "/dev/zero"],
                 ["finetune", "--data", "/dev/zero", "--out", "unused"]):
        proc = subprocess.run(
            [sys.executable, "-m", "mlm_explorer", *argv], capture_output=True, text=True, cwd=ROOT,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "not a regular file" in lines[0], proc.stderr


def test_all_heads_view_is_capped_and_says_so(tiny_bert_dir) -> None:
    pytest.importorskip("gradio")
    from mlm_explorer.attention import attention_from_output
    from mlm_explorer.predict import forward
    from mlm_explorer.ui import attention as tab

    lm = load_model(tiny_bert_dir)
    ids = lm.tokenizer("word " * 200)["input_ids"][: lm.max_length]
    out = forward(lm, ids, with_attentions=True, positions=[0])
    maps = attention_from_output(["w"] * len(ids), out.attentions, special_mask=[False] * len(ids))
    if len(ids) > tab.MAX_ALL_HEADS_TOKENS:
        figure = tab.attention_figure(maps, tab.ALL_HEADS, 0, 0, False)
        assert f"up to {tab.MAX_ALL_HEADS_TOKENS} tokens" in str(figure.layout.annotations[0].text)
    small = tab.MAX_ALL_HEADS_TOKENS
    tab.MAX_ALL_HEADS_TOKENS = 8
    try:
        figure = tab.attention_figure(maps, tab.ALL_HEADS, 0, 0, False)
        assert "up to 8 tokens" in str(figure.layout.annotations[0].text)
        assert len(tab.attention_figure(maps, tab.ONE_HEAD, 0, 0, False).data) == 1
    finally:
        tab.MAX_ALL_HEADS_TOKENS = small


def test_fill_draws_bars_for_a_screenful_of_blanks_and_keeps_every_row(tiny_bert_dir) -> None:
    pytest.importorskip("gradio")
    from mlm_explorer.ui import common
    from mlm_explorer.ui import fill as tab

    session = common.new_session()
    session.model_key = str(tiny_bert_dir)
    blanks = tab.MAX_BAR_PANELS + 6
    text = " ".join(["[MASK]"] * blanks)
    figure, table, note, _ = tab.fill_blanks(text, "", 3, False, tab.INDEPENDENT, session)
    panel_titles = [a.text for a in figure.layout.annotations if "position" in str(a.text)]
    assert len(panel_titles) == tab.MAX_BAR_PANELS
    assert f"first {tab.MAX_BAR_PANELS} of {blanks} blanks" in note
    rows = table.data if hasattr(table, "data") else table.value["data"]
    assert len(rows) == blanks
    exported = Path(common.export_table(session, stem="fill", fmt="csv", hint="press Predict"))
    assert len(exported.read_text().splitlines()) == 1 + blanks  # the download keeps every blank too


def test_fill_keeps_attention_maps_of_short_texts_only(tiny_bert_dir, monkeypatch) -> None:
    pytest.importorskip("gradio")
    from mlm_explorer.ui import common
    from mlm_explorer.ui import fill as tab

    monkeypatch.setattr(tab, "KEEP_ATTENTION_TOKENS", 12)  # the tiny model reads 64 tokens
    session = common.new_session()
    session.model_key = str(tiny_bert_dir)
    tab.fill_blanks("the cat sat on the [MASK] .", "", 3, False, tab.INDEPENDENT, session)
    assert session.attention is not None  # the Attention tab re-plots this pass
    assert session.attention.array.dtype.name == "float16"  # kept at half the bytes
    words = " ".join(["cat"] * 12)
    tab.fill_blanks(f"the {words} [MASK] .", "", 3, False, tab.INDEPENDENT, session)
    assert session.attention is None  # layers x heads x T x T would sit in the session


def test_fill_tokenizes_the_text_once_per_predict(tiny_bert_dir, monkeypatch) -> None:
    pytest.importorskip("gradio")
    from mlm_explorer import predict as predict_module
    from mlm_explorer.ui import common
    from mlm_explorer.ui import fill as tab

    calls: list[str] = []

    def counting(encode):
        def wrapped(lm, text, *args, **kwargs):
            calls.append(text)
            return encode(lm, text, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(tab, "encode", counting(tab.encode))
    monkeypatch.setattr(predict_module, "encode", counting(predict_module.encode))
    session = common.new_session()
    session.model_key = str(tiny_bert_dir)
    _, _, note, _ = tab.fill_blanks("the cat sat on the [MASK] .", "", 3, False, tab.INDEPENDENT, session)
    assert "Position" in note
    assert calls == ["the cat sat on the [MASK] ."]


def test_model_events_run_a_class_together_and_attention_fewer() -> None:
    pytest.importorskip("gradio")
    import app
    from mlm_explorer.ui import common

    by_name = {fn.api_name: fn for fn in app.demo.fns.values()}
    for name in ("predict", "score", "policy", "reroll"):
        assert by_name[name].concurrency_limit == common.INFERENCE_CONCURRENCY >= 30
        assert by_name[name].concurrency_id == "model-inference"
    assert by_name["attention"].concurrency_limit == common.ATTENTION_CONCURRENCY < 30
    assert app.launch_options()["max_threads"] >= common.INFERENCE_CONCURRENCY + common.ATTENTION_CONCURRENCY


def test_saliency_is_refused_over_its_budget_before_the_model_runs(tiny_bert_dir, monkeypatch) -> None:
    import mlm_explorer.saliency as saliency_module

    lm = load_model(tiny_bert_dir)

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model ran for a refused request")

    monkeypatch.setattr(saliency_module, "forward", no_model)
    with pytest.raises(ValueError, match=r"limited to 64 steps \(tokens × steps ≤ 4,096"):
        saliency_module.saliency(lm, "the [MASK] sat on the mat . " * 20, steps=72)
