"""The command line, in process and once as a real ``python -m mlm_explorer``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlm_explorer import cli, models
from tests.cli_support import json_cli, run_cli

REPO = Path(__file__).resolve().parent.parent


_run, _json = run_cli, json_cli


def test_predict_json(capsys, tiny_model_dir) -> None:
    argv = ["predict", "the cat [MASK] on the mat .", "--model", str(tiny_model_dir), "--top-k", "3"]
    data = _json(capsys, *argv)
    assert {"model", "tokens", "predictions"} <= set(data)
    (pred,) = data["predictions"]
    assert {"position", "original", "top_k", "original_prob", "original_rank", "entropy"} <= set(pred)
    assert data["tokens"][pred["position"]] in ("[MASK]", "<mask>") and pred["original"] is None
    assert len(pred["top_k"]) == 3 and {"token", "id", "prob"} == set(pred["top_k"][0])
    probs = [c["prob"] for c in pred["top_k"]]
    assert probs == sorted(probs, reverse=True)


def test_predict_iterative_and_all_positions(capsys, tiny_bert_dir) -> None:
    model = ["--model", str(tiny_bert_dir)]
    data = _json(capsys, "predict", "the [MASK] sat on the [MASK] .", "--iterative", *model)
    assert [s["step"] for s in data["steps"]] == [1, 2] and "[MASK]" not in data["filled_tokens"]
    data = _json(capsys, "predict", "the cat sat", "--all-positions", *model)
    assert [p["position"] for p in data["predictions"]] == [1, 2, 3]
    assert all(p["original_rank"] >= 1 for p in data["predictions"])
    code, out, _ = _run(capsys, "predict", "the cat [MASK] .", *model)
    assert code == 0 and "entropy" in out


def test_mask_json(capsys, tiny_roberta_dir) -> None:
    argv = ["mask", "the unbelievable cat sat on the mat .", "--rate", "0.5",
            "--seed", "4", "--whole-word", "--model", str(tiny_roberta_dir)]
    data = _json(capsys, *argv)
    assert {"tokens", "input_ids", "actions", "corrupted_tokens"} <= set(data)
    n = len(data["tokens"])
    assert len(data["input_ids"]) == len(data["actions"]) == len(data["corrupted_tokens"]) == n
    assert data["actions"][0] == data["actions"][-1] == "none"
    assert set(data["actions"]) <= {"none", "mask", "random", "keep"} and set(data["actions"]) != {"none"}
    assert _json(capsys, *argv) == data  # same seed, same plan


def test_score_and_attention_json(capsys, tiny_bert_dir) -> None:
    model = ["--model", str(tiny_bert_dir)]
    score = _json(capsys, "score", "the cat sat on the mat .", *model)
    assert {"tokens", "token_log_probs", "pll", "pseudo_perplexity"} <= set(score)
    assert len(score["tokens"]) == len(score["token_log_probs"])
    assert score["pll"] == pytest.approx(sum(x for x in score["token_log_probs"] if x is not None))
    att = _json(capsys, "attention", "the cat sat", "--rollout", *model)
    t = len(att["tokens"])
    assert (att["layers"], att["heads"]) == (2, 2)
    assert len(att["attention"]) == 2 and len(att["attention"][0]) == 2 and len(att["attention"][0][0]) == t
    assert sum(att["attention"][1][0][2]) == pytest.approx(1.0, abs=1e-4)
    assert att["model"] and att["truncated"] is False and att["message"] == ""
    # six decimals as printed, not float32 noise such as 0.5046510100364685
    assert all(len(repr(v).split(".")[-1]) <= 6 for v in att["attention"][1][0][2])
    assert sum(att["rollout"][-1][0]) == pytest.approx(1.0, abs=1e-4)


def test_eval_cloze(capsys, tmp_path, tiny_bert_dir) -> None:
    from mlm_explorer.cloze import ClozeItem, evaluate_cloze
    from mlm_explorer.models import load_model

    lm = load_model(tiny_bert_dir)
    # The tiny model is random: find sentences whose top-1 and a later top-5 word are whole words.
    texts = [f"the {w} [MASK] on the mat ." for w in ("cat", "dog", "man", "woman", "bird", "city", "nurse")]
    outcomes = evaluate_cloze(lm, [ClozeItem(t, ("-",)) for t in texts]).outcomes
    usable = [o for o in outcomes if o.words[0] and any(w and w != o.words[0] for w in o.words[1:])]
    assert usable, [o.words for o in outcomes]
    o = usable[0]
    later = next(w for w in o.words[1:] if w and w != o.words[0])
    lines = [
        {"text": o.text, "answers": [o.words[0].upper()]},  # top-1 (case ignored)
        {"text": o.text, "answers": [later]},  # top-5 only
        {"text": o.text.replace("[MASK]", "<mask>"), "answers": ["zzz-never"]},
        {"text": o.text, "answers": "zzz-never"},
    ]
    path = tmp_path / "cloze.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    data = _json(capsys, "eval-cloze", str(path), "--model", str(tiny_bert_dir))
    assert data["n"] == 4 and data["top1"] == 0.25 and data["top5"] == 0.5
    assert [item["rank"] for item in data["items"]][:1] == [1]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["predict", ""], "empty"),
        (["predict", "   "], "empty"),
        (["predict", "the cat sat"], "No mask"),
        (["predict", "the [MASK]", "--top-k", "0"], "at least 1"),
        (["score", "\n"], "empty"),
        (["mask", "the cat", "--rate", "1.5"], "between 0 and 1"),
        (["mask", "the cat", "--rate", "-0.1"], "between 0 and 1"),
        (["mask", "the cat", "--rate", "abc"], "number"),
        (["mask", "the cat", "--mask-share", "0.8", "--random-share", "0.3"], "at most 1"),
        (["mask", "the cat", "--policy", "bert"], "unrecognized arguments"),
        (["mask", "the cat", "--seed", "-1"], "seed must be a whole number between 0 and 4294967295"),
        (["predict", "the [MASK]", "--model", "./no/such/folder"], "not found"),
        (["predict", "the [MASK]", "--model", "mlm-explorer-tests/not-cached"], "unreachable"),
        (["eval-cloze", "/no/such/file.jsonl"], "No such file: /no/such/file.jsonl"),
        (["predict", "the [MASK]", "--top-k", "100000"], "at most 20"),
        (["frobnicate"], "invalid choice"),
        (["app", "--port", "-1"], "at least 1"),  # parsed before any server starts
        (["app", "--port", "70000"], "from 1 to 65535"),
        ([], "required"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, tiny_bert_dir, argv, match) -> None:
    needs_model = argv[:1] in (["predict"], ["score"], ["mask"]) and "--model" not in argv
    code, out, err = _run(capsys, *argv, *(["--model", str(tiny_bert_dir)] if needs_model else []))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], err
    assert "Traceback" not in err


def test_pretrain_and_generate_settings_are_checked_before_anything_runs(capsys, tmp_path, tiny_bert_dir):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat .\n" * 20)
    base = ["pretrain", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--steps", "1",
            "--init", str(tiny_bert_dir)]
    cases = [
        (["--rate", "0"], "--rate must be between 0.01 and 1"),
        (["--seed", "-1"], "between 0 and 4294967295"),
        (["--minutes", "nan"], "--minutes must be a positive number"),  # nan ran with no budget
        (["--checkpoint-minutes", "-1"], "--checkpoint-minutes must be a positive number"),
        (["--seq-len", "100000"], "--seq-len must be from 4 to 512"),  # a RuntimeError in the forward
    ]
    for extra, match in cases:
        code, out, err = _run(capsys, *base, *extra)
        assert code == 2 and match in err and "Traceback" not in err, err
    scratch = [*base[:-2], "--from-scratch"]
    for extra, match in ((["--hidden", "100000"], "hidden must be from 1 to 1,024"),  # 40 GB asked for
                         (["--hidden", "10", "--heads", "3"], "must be a multiple of the heads (3)")):
        code, out, err = _run(capsys, *scratch, *extra)
        assert code == 2 and err == f"error: --from-scratch: {err.split(': ', 2)[2]}" and match in err, err
    code, _, err = _run(capsys, *base[:-1], str(tmp_path / "no-such-folder"))
    assert code == 2 and "not a model folder" in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # refused before anything was written
    code, _, err = _run(capsys, "generate", "--length", "3", "--seed", str(2**32),
                        "--model", str(tiny_bert_dir))
    assert code == 2 and "between 0 and 4294967295" in err, err


def test_unreadable_and_bad_cloze_files(capsys, tmp_path, tiny_bert_dir) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "the [MASK]", "answers": ["cat"]}\nnot json\n')
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    for path, match in ((bad, "line 2"), (binary, "UTF-8"), (tmp_path, "folder")):
        code, _, err = _run(capsys, "eval-cloze", str(path), "--model", str(tiny_bert_dir))
        assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    two = tmp_path / "two.jsonl"  # two blanks and one answer list: scored at the first, and said so
    two.write_text('{"text": "the [MASK] sat on the [MASK] .", "answers": ["cat"]}\n')
    code, out, err = _run(capsys, "eval-cloze", str(two), "--model", str(tiny_bert_dir), "--json")
    assert code == 0 and err.startswith("note: 1 item(s) have more than one [MASK] (item 1)")
    assert json.loads(out)["message"].endswith("only the first blank of each is scored.")


def test_truncation_noted(capsys, tiny_bert_dir) -> None:
    text = "the cat [MASK] on the mat . " + "the dog sat . " * 40
    code, out, err = _run(capsys, "predict", text, "--model", str(tiny_bert_dir), "--json")
    assert code == 0 and json.loads(out)["truncated"] is True
    assert err.startswith("note:") and "64 tokens" in err


def test_missing_bundled_model(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(models, "BUNDLED_MODEL_DIR", tmp_path / "assets" / "model")
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    code, _, err = _run(capsys, "predict", "the [MASK]")
    assert code == 2 and "assets/model" in err and len(err.strip().splitlines()) == 1


def test_commands_registry_drives_the_parser() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"predict", "mask", "score", "attention", "eval-cloze"} <= set(sub.choices)
    assert set(sub.choices) == set(cli.COMMANDS)


@pytest.mark.slow
def test_real_subprocess(tiny_bert_dir) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [sys.executable, "-m", "mlm_explorer", "predict", "the cat [MASK] .", "--model", str(tiny_bert_dir),
         "--json"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["predictions"][0]["position"] == 3
    assert "Loading weights" not in ok.stderr  # no progress bars on the terminal
