"""Fine-tuning: learning happens, the base is untouched, Stop stops, bad input is refused, saves reload."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from mlm_explorer import finetune as ft
from mlm_explorer.data import DataError, TextData
from mlm_explorer.models import load_model

REPETITIVE = ["the cat sat on the mat .", "the dog sat on the floor ."] * 30
PROBE = "the cat sat on the [MASK] ."


def fast(**kw) -> ft.FinetuneConfig:
    """Small, quick settings for the tiny models (hidden 32)."""
    base = dict(steps=30, lr=3e-3, batch_size=8, warmup=0.0, probe_every=0, eval_batch_size=64)
    base.update(kw)
    return ft.FinetuneConfig(**base)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_loss_falls_and_base_stays_byte_identical(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    before = snapshot(lm.model)
    steps_seen: list[int] = []
    res = ft.finetune(lm, REPETITIVE, fast(steps=80), probes=[PROBE],
                      on_step=lambda s, loss, info: steps_seen.append(s))
    assert steps_seen == list(range(1, 81)) and res.steps == 80 and res.stopped == "completed"
    first, last = sum(res.losses[:5]) / 5, sum(res.losses[-5:]) / 5
    assert last < first - 0.5, (first, last)
    assert res.after.loss < res.before.loss and res.after.targets == res.before.targets > 0
    assert math.isclose(res.after.perplexity, math.exp(res.after.loss))
    # The shared, cached model: same tensors bit for bit, still in eval mode, not the result.
    after = lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not lm.model.training and res.model is not lm.model
    assert any(not torch.equal(before[k], v) for k, v in res.model.state_dict().items())
    assert res.probes_before[0].text == PROBE and len(res.probes_after[0].guesses[0].tokens) == 5
    top5 = {t.lstrip("Ġ") for t in res.probes_after[0].guesses[0].tokens}
    assert top5 & {"mat", "floor"}, top5


def test_heldout_metrics_use_a_fixed_masking(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    prepared = ft.prepare_data(REPETITIVE, lm.tokenizer, 64, ft.FinetuneConfig())
    args = (lm.model, prepared.heldout, lm.tokenizer, lm.candidate_ids)
    a, b = (ft.heldout_metrics(*args, ft.FinetuneConfig(eval_seed=5)) for _ in range(2))
    assert a == b and 0 <= a.accuracy <= 1 and a.targets > 0
    assert ft.heldout_metrics(*args, ft.FinetuneConfig(eval_seed=6)) != a


def test_probes_refresh_during_training(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    got: dict[int, object] = {}
    ft.finetune(lm, REPETITIVE, fast(steps=10, probe_every=4), probes=[PROBE],
                on_step=lambda s, loss, info: got.__setitem__(s, info.probes))
    assert [s for s, p in got.items() if p is not None] == [1, 4, 8]
    assert got[4][0].guesses[0].position == 6


@pytest.mark.slow
def test_stop_event_ends_the_run_within_a_step(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    stop = threading.Event()

    def on_step(step, loss, info):
        if step == 3:
            stop.set()

    res = ft.finetune(lm, REPETITIVE, fast(steps=500), on_step=on_step, stop=stop)
    assert res.stopped == "stopped" and res.steps == 3 and len(res.losses) == 3
    res = ft.finetune(lm, REPETITIVE, fast(steps=500), on_step=lambda s, loss, info: s < 2)
    assert res.stopped == "stopped" and res.steps == 2


@pytest.mark.slow
def test_time_budget_stops_the_run(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    res = ft.finetune(lm, REPETITIVE, fast(steps=3000, max_seconds=1.0))
    assert res.stopped == "time budget" and 0 < res.steps < 3000 and res.seconds < 5


@pytest.mark.slow
def test_fresh_model_is_small_random_and_seeded(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    a, b = ft.fresh_model(lm.model, seed=1), ft.fresh_model(lm.model, seed=1)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(a.state_dict()["bert.encoder.layer.0.attention.self.query.weight"],
                           lm.model.state_dict()["bert.encoder.layer.0.attention.self.query.weight"])
    res = ft.finetune(lm, REPETITIVE, fast(steps=5, from_scratch=True))
    assert res.base_name.endswith("(fresh random init)") and res.model.config.vocab_size == lm.vocab_size


def test_long_lines_are_trained_as_windows(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    long = " ".join(REPETITIVE[:20])
    res = ft.finetune(lm, [long, long, "a man went to the store ."], fast(steps=3, max_length=16))
    assert res.n_windows > 3 and any("split into windows" in n for n in res.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(steps=0), "steps must be between"),
        (dict(steps=10**6), "steps must be between"),
        (dict(steps=2.5), "steps must be a whole number"),
        (dict(lr=float("nan")), "learning rate must be a number"),
        (dict(lr=5.0), "learning rate must be between"),
        (dict(lr="abc"), "learning rate must be a number, got 'abc'"),
        (dict(seed=-1), r"seed must be between 0 and 4294967295, got -1\."),
        (dict(rate=0.0), "masking rate must be between"),
        (dict(batch_size=-1), "batch size"),
        (dict(max_seconds=0), "time budget"),
        (dict(precision="fp8"), "precision must be one of auto, bf16, no"),
    ],
)
def test_nonsense_settings_are_refused(tiny_bert_dir, kwargs, message):
    lm = load_model(str(tiny_bert_dir))
    with pytest.raises(ValueError, match=message):
        ft.finetune(lm, REPETITIVE, ft.FinetuneConfig(**kwargs))


@pytest.mark.slow
def test_bf16_fine_tuning_learns_and_says_so(tiny_model_dir):
    """bf16 autocast (what "auto" picks on a GPU or a bf16 CPU): loss falls, weights stay fp32."""
    lm = load_model(str(tiny_model_dir))
    res = ft.finetune(lm, REPETITIVE, fast(steps=60, precision="bf16"))
    assert sum(res.losses[-5:]) / 5 < sum(res.losses[:5]) / 5 - 0.5
    assert res.after.loss < res.before.loss
    assert all(p.dtype == torch.float32 for p in res.model.parameters())
    assert res.summary()["precision"] == "bf16"
    assert ft.finetune(lm, REPETITIVE, fast(steps=2, precision="no")).summary()["precision"] == "no"


def test_bad_data_and_probes_are_refused(tiny_bert_dir):
    lm = load_model(str(tiny_bert_dir))
    with pytest.raises(DataError, match="no text"):
        ft.finetune(lm, [], fast())
    with pytest.raises(ValueError, match="has no \\[MASK\\]"):
        ft.finetune(lm, REPETITIVE, fast(), probes=["no blank here"])


@pytest.mark.slow
def test_saved_folder_reloads_with_the_same_predictions(tiny_model_dir, tmp_path):
    lm = load_model(str(tiny_model_dir))
    data = TextData(tuple(REPETITIVE), "toy.txt", "txt")
    res = ft.finetune(lm, data, fast(steps=5), probes=[PROBE])
    saved = ft.save_finetuned(res, tmp_path / "models" / "toy")
    assert saved.zip_path is not None and saved.zip_path.stat().st_size > 1000
    expected = {"config.json", "model.safetensors", "tokenizer.json", "MODEL_CARD.md", "README.md"}
    assert expected <= set(saved.files)
    card = (saved.folder / "MODEL_CARD.md").read_text()
    assert "toy.txt" in card and tiny_model_dir.name in card and "| loss |" in card
    assert str(tiny_model_dir.parent) not in card  # no server folders in a card that travels
    assert json.loads((saved.folder / "finetune.json").read_text())["steps"] == 5

    model = AutoModelForMaskedLM.from_pretrained(saved.folder, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(saved.folder)
    text = PROBE.replace("[MASK]", tok.mask_token)
    enc = tok(text, return_tensors="pt")
    with torch.inference_mode():
        again = model(**enc).logits
        ours = res.model(**enc).logits
    assert torch.allclose(again, ours, atol=1e-5)
    reloaded = load_model(str(saved.folder))
    assert ft.probe(reloaded.model, reloaded.tokenizer, [PROBE]) == res.probes_after


@pytest.mark.slow
def test_cli_finetune_writes_folder_card_and_json(tiny_bert_dir, tmp_path, capsys):
    from mlm_explorer.cli import main

    data = tmp_path / "toy.csv"
    data.write_text("id,body\n" + "".join(f"{i},{s}\n" for i, s in enumerate(REPETITIVE)))
    out = tmp_path / "models" / "toy"
    code = main(["finetune", "--model", str(tiny_bert_dir), "--data", str(data), "--text-column", "body",
                 "--out", str(out), "--steps", "4", "--lr", "1e-3", "--seed", "3", "--probe", PROBE,
                 "--precision", "no", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["steps"] == 4 and summary["settings"]["seed"] == 3 and summary["data"] == "toy.csv"
    assert summary["precision"] == "no" and summary["settings"]["precision"] == "no"
    assert summary["model"] == tiny_bert_dir.name and "base_model" not in summary  # one name for the model
    assert (out / "MODEL_CARD.md").is_file() and (out / "model.safetensors").is_file()
    assert (tmp_path / "models" / "toy.zip").is_file()
    assert "fine-tuning" in captured.err  # tqdm progress on stderr
    # Without --json: sentences for a person, the same run.
    assert main(["finetune", "--model", str(tiny_bert_dir), "--data", str(data), "--text-column", "body",
                 "--out", str(out), "--steps", "2", "--no-zip"]) == 0
    text = capsys.readouterr().out
    assert "masked-token accuracy" in text and f"saved to {out}" in text and not text.startswith("{")


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--steps", "0"], "whole number of at least 1"), (["--lr", "2"], "learning rate"),
     (["--rate", "1.5"], "between 0 and 1"), (["--text-column", "nope"], "no column 'nope'")],
)
def test_cli_finetune_bad_input_is_one_line_exit_2(tiny_bert_dir, tmp_path, capsys, extra, message):
    from mlm_explorer.cli import main

    data = tmp_path / "toy.csv"
    data.write_text("text\nthe cat sat\n")
    code = main(["finetune", "--model", str(tiny_bert_dir), "--data", str(data), "--out", str(tmp_path / "o"),
                 *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and err.count("\n") == 0 and err.startswith("error:")
    assert not (tmp_path / "o").exists()


def test_probe_table_shows_small_probabilities_as_more_than_zero():
    from mlm_explorer.views import probes_table

    tiny = ft.Probe("the [MASK] .", (ft.MaskGuess(2, ("a", "b"), (0.0004, 0.0000327)),))
    sure = ft.Probe("the [MASK] .", (ft.MaskGuess(2, ("cat", "dog"), (0.62, 0.031)),))
    row = probes_table([tiny], [sure]).iloc[0]
    assert row["before"] == "a 0.04%, b 0.0033%" and row["after"] == "cat 62%, dog 3.1%"
