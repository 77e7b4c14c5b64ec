"""Watching an encoder write: strategies, reproducibility, forbidden tokens, PLL per sweep, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mlm_explorer import cli
from mlm_explorer.generate import MULTI_SWEEP, STRATEGIES, generate, remask_counts
from mlm_explorer.models import load_model, unused_token_ids
from mlm_explorer.predict import forward, pseudo_log_likelihood

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lm(tiny_model_dir):
    return load_model(tiny_model_dir)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_blank_is_written_and_every_step_recorded(lm, strategy):
    multi = strategy in MULTI_SWEEP
    trace = generate(lm, 6, strategy, steps=2 if multi else None, seed=0)
    sweeps = 2 if multi else 1
    writes = 6 + sum(remask_counts(6, 2)) if strategy == "mask-predict" else 6 * sweeps
    assert len(trace.steps) == writes and len(trace.pll_per_sweep) == sweeps
    assert lm.mask_token_id not in trace.steps[-1].ids
    assert sorted({s.position for s in trace.steps}) == list(trace.blanks)
    for n, s in enumerate(trace.steps, start=1):
        assert s.step == n and s.ids[s.position] == s.token_id and 0 < s.prob <= 1
        before = trace.ids_at(n - 1)
        changed = [i for i in range(len(s.ids)) if s.ids[i] != before[i]]
        # A step writes its position; a mask-predict round's first step also shows its re-masked blanks.
        assert set(changed) - {s.position} <= {i for i in trace.blanks if s.ids[i] == lm.mask_token_id}
        if strategy != "mask-predict":
            assert changed in ([], [s.position])
    assert trace.ids_at(0) == trace.start_ids and trace.ids_at(len(trace.steps)) == trace.steps[-1].ids


def test_the_fill_strategies_follow_their_order(lm):
    left = generate(lm, 5, "left-to-right")
    assert [s.position for s in left.steps] == list(left.blanks)
    it = generate(lm, 5, "iterative")
    ids = list(it.start_ids)
    for s in it.steps:  # each step took the blank whose best token was most probable
        remaining = [p for p in it.blanks if ids[p] == lm.mask_token_id]
        probs = torch.softmax(forward(lm, ids, positions=remaining).logits, dim=-1)
        allowed = torch.zeros(lm.vocab_size, dtype=torch.bool)
        allowed[lm.candidate_ids] = True
        best = probs.masked_fill(~allowed, -1).max(dim=-1).values
        assert remaining[int(best.argmax())] == s.position
        ids[s.position] = s.token_id


def test_mask_predict_writes_every_blank_from_one_pass_then_remasks_the_least_sure(lm, monkeypatch):
    import mlm_explorer.generate as gen

    passes = []
    real = gen.forward
    monkeypatch.setattr(gen, "forward", lambda lm_, ids, positions: passes.append(list(positions))
                        or real(lm_, ids, positions=positions))
    trace = generate(lm, 7, "mask-predict", steps=3)
    assert remask_counts(7, 3) == (4, 2)
    # One model pass per round, for the real scoring passes aside: round 1 all blanks, then 4, then 2.
    assert [len(p) for p in passes] == [7, 4, 2]
    assert passes[0] == list(trace.blanks)
    allowed = torch.zeros(lm.vocab_size, dtype=torch.bool)
    allowed[lm.candidate_ids] = True
    first = torch.softmax(real(lm, list(trace.start_ids), positions=list(trace.blanks)).logits, dim=-1)
    best_p, best_i = first.masked_fill(~allowed, -1).max(dim=-1)
    assert [s.token_id for s in trace.steps[:7]] == best_i.tolist()  # round 1: each blank's top token
    # Round 2 re-masks the 4 blanks whose round-1 probability was lowest.
    lowest = sorted(sorted(trace.blanks, key=lambda p: best_p[trace.blanks.index(p)].item())[:4])
    assert passes[1] == lowest == [s.position for s in trace.steps[7:11]]
    assert {s.sweep for s in trace.steps} == {1, 2, 3} and len(trace.pll_per_sweep) == 3
    for s in trace.steps[7:8]:  # the round's first step shows the others of the round still hidden
        assert [p for p in trace.blanks if s.ids[p] == lm.mask_token_id] == lowest[1:]
    # Top tokens only: the seed changes nothing.
    assert generate(lm, 7, "mask-predict", steps=3, seed=5).to_dict()["steps"] == trace.to_dict()["steps"]


def test_same_seed_same_trace_other_seed_other_trace(lm):
    a = generate(lm, 8, "gibbs", steps=3, seed=0)
    b = generate(lm, 8, "gibbs", steps=3, seed=0)
    c = generate(lm, 8, "gibbs", steps=3, seed=1)
    assert a.to_dict() == b.to_dict()
    assert [s.token_id for s in a.steps] != [s.token_id for s in c.steps]


def test_special_and_placeholder_tokens_are_never_written(lm):
    forbidden = set(lm.special_ids) | set(unused_token_ids(lm.tokenizer))
    for seed in range(3):
        trace = generate(lm, 10, "gibbs", steps=2, temperature=5.0, seed=seed)  # hot: anything could come
        assert not {s.token_id for s in trace.steps} & forbidden


def test_placeholders_are_excluded_where_the_vocabulary_has_them(tmp_path):
    """A BERT vocabulary with [unusedN] entries: the generator must skip them even when they are likely."""
    from tests.tiny_models import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "m")
    tok = json.loads((folder / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    victims = [t for t in vocab if not t.startswith("[") and t.isalpha()][:20]
    for n, t in enumerate(victims):  # rename real entries to placeholders
        vocab[f"[unused{n}]"] = vocab.pop(t)
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    lm = load_model(folder)
    unused = set(unused_token_ids(lm.tokenizer))
    assert len(unused) == 20
    with torch.no_grad():  # make the placeholders the model's favourite tokens
        lm.model.get_output_embeddings().bias[sorted(unused)] += 50.0
    trace = generate(lm, 6, "gibbs", steps=1, seed=0)
    assert not {s.token_id for s in trace.steps} & unused
    assert not {s.token_id for s in generate(lm, 6, "iterative").steps} & unused


def test_pll_after_each_sweep_is_the_sentence_score(lm):
    trace = generate(lm, "the [MASK] sat on the [MASK] .", "left-to-right")
    ids = trace.steps[-1].ids
    special = lm.special_ids
    from mlm_explorer.predict import masked_copy_log_probs

    positions = [i for i, t in enumerate(ids) if t not in special]
    assert trace.pll_per_sweep[0] == pytest.approx(float(masked_copy_log_probs(lm, ids, positions).sum()))
    if lm.config.model_type == "bert":  # WordPiece text re-reads as the same ids
        assert trace.pll_per_sweep[0] == pytest.approx(pseudo_log_likelihood(lm, trace.text).pll, rel=1e-4)


def test_a_prompt_keeps_its_words(lm):
    trace = generate(lm, "the cat [MASK] on the [MASK] .", "gibbs", steps=2, seed=5)
    fixed = [i for i in range(len(trace.start_ids)) if i not in trace.blanks]
    assert all(trace.steps[-1].ids[i] == trace.start_ids[i] for i in fixed)
    assert len(trace.blanks) == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0,), {}, "length"),
        ((10_000,), {}, "length"),
        (("no blank here",), {}, "No mask: type"),
        ((4, "beam"), {}, "strategy"),
        ((4, "iterative"), {"steps": 3}, "sweeps are for gibbs and mask-predict"),
        ((4, "mask-predict"), {"steps": 51}, "sweeps"),
        ((4, "gibbs"), {"steps": 0}, "sweeps"),
        ((4, "gibbs"), {"steps": 51}, "sweeps"),
        ((4, "gibbs"), {"temperature": 0}, "temperature"),
        ((4, "gibbs"), {"top_k": -1}, "top_k"),
        ((4, "gibbs"), {"seed": -1}, "seed"),
        ((True,), {}, "number of blanks"),
    ],
)
def test_bad_settings_are_refused(lm, args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(lm, *args, **kwargs)


def test_top_k_one_is_greedy(lm):
    a = generate(lm, 5, "gibbs", steps=1, top_k=1, seed=0)
    b = generate(lm, 5, "gibbs", steps=1, top_k=1, seed=99)
    assert [s.token_id for s in a.steps] == [s.token_id for s in b.steps]


# ---------------------------------------------------------------------------- CLI


def _cli_json(capsys, *argv: str) -> dict:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_cli_generate_json_shape(capsys, tiny_bert_dir):
    argv = ["--length", "12", "--strategy", "gibbs", "--sweeps", "5", "--seed", "0"]
    data = _cli_json(capsys, "generate", *argv, "--model", str(tiny_bert_dir))
    assert {"model", "strategy", "seed", "steps", "text", "pll_per_sweep"} <= set(data)
    assert data["strategy"] == "gibbs" and data["seed"] == 0 and len(data["pll_per_sweep"]) == 5
    assert len(data["steps"]) == 60 and {"position", "token", "text"} <= set(data["steps"][0])
    assert data["steps"][-1]["text"] == data["text"]


def test_cli_generate_same_seed_same_output_other_seed_other_output(capsys, tiny_bert_dir):
    """A real ``python -m mlm_explorer generate`` run prints byte for byte what another run prints."""
    argv = ["generate", "--length", "12", "--strategy", "gibbs", "--sweeps", "5", "--json",
            "--model", str(tiny_bert_dir)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "mlm_explorer", *argv, "--seed", "0"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr

    def in_process(seed: int) -> str:
        assert cli.main([*argv, "--seed", str(seed)]) == 0
        return capsys.readouterr().out

    assert in_process(0) == done.stdout == in_process(0)
    assert json.loads(in_process(1))["steps"] != json.loads(done.stdout)["steps"]


def test_cli_generate_errors_are_one_line(capsys, tiny_bert_dir):
    model = ["--model", str(tiny_bert_dir)]
    for argv in (
        ["generate", "--length", "3", "--sweeps", "2", *model],  # sweeps without gibbs
        ["generate", "--length", "3", "--top-k", "5", *model],  # sampling settings without gibbs
        ["generate", "--length", "3", "--strategy", "left-to-right", "--temperature", "2", *model],
        ["generate", "--length", "3", "--strategy", "mask-predict", "--top-k", "3", *model],
        ["generate", "--text", "no blank", *model],
        ["generate", "--length", "3", "--strategy", "gibbs", "--temperature", "0", *model],
        ["generate", *model],
    ):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_cli_generate_mask_predict_takes_rounds(capsys, tiny_bert_dir):
    argv = ["generate", "--length", "5", "--strategy", "mask-predict", "--sweeps", "4", "--json",
            "--model", str(tiny_bert_dir)]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strategy"] == "mask-predict" and len(out["pll_per_sweep"]) == 4
    assert len(out["steps"]) == 5 + sum(remask_counts(5, 4))


def test_cli_generate_text_output(capsys, tiny_bert_dir):
    assert cli.main(["generate", "--text", "the [MASK] sat .", "--model", str(tiny_bert_dir)]) == 0
    out = capsys.readouterr().out
    assert "step   1" in out and "PLL after sweep 1" in out


def test_mask_predict_runs_at_most_a_round_per_blank_and_says_so(lm):
    trace = generate(lm, 3, "mask-predict", steps=10)
    assert remask_counts(3, 10)[-1] == 0  # later rounds would re-mask nothing
    assert trace.sweeps == 3 and len(trace.pll_per_sweep) == 3 and "at most 3" in trace.message
    assert generate(lm, 3, "mask-predict", steps=3).message == ""


def test_the_json_names_sampling_settings_for_gibbs_only(lm):
    assert generate(lm, 3, "gibbs", steps=1, top_k=5).to_dict()["top_k"] == 5
    for strategy in ("iterative", "left-to-right", "mask-predict"):
        out = generate(lm, 3, strategy).to_dict()
        assert out["temperature"] is None and out["top_k"] is None
