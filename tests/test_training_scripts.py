"""The bundled model's training scripts: scripts/evaluate_run.py and scripts/pick_run.py."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def figures(token_acc: dict[str, float], word_acc: dict[str, float] | None, cloze: float) -> dict:
    def block(acc: dict[str, float]) -> dict:
        return {name: {"lines": 10, "targets": 20, "accuracy": a, "loss": 2.0} for name, a in acc.items()}

    out = {"cloze_top1": cloze, "cloze_top5": cloze + 0.1, "pairs_accuracy": 0.9,
           "heldout_by_source": block(token_acc)}
    if word_acc is not None:
        out["heldout_words_by_source"] = block(word_acc)
    return out


def write_run(folder: Path, name: str, new: dict, baseline: dict, steps: int) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "evaluation.json").write_text(json.dumps({"new": new, "baseline": baseline}))
    # pretrain's summary is its last line of output
    (folder / name / "pretrain_summary.json").write_text(
        json.dumps({"steps": steps, "best_step": steps - 1}) + "\n")


def test_pick_run_prefers_whole_word_heldout_and_reports_failures(tmp_path: Path, capsys) -> None:
    pick_run = load_script("pick_run")
    base = figures({"a": 0.4, "b": 0.4}, {"a": 0.3, "b": 0.3}, 0.5)
    # "tokens" wins on token-level accuracy, "words" on whole words: whole words decide.
    write_run(tmp_path, "tokens", figures({"a": 0.6, "b": 0.6}, {"a": 0.40, "b": 0.40}, 0.4), base, 100)
    write_run(tmp_path, "words", figures({"a": 0.5, "b": 0.5}, {"a": 0.45, "b": 0.47}, 0.6), base, 90)
    assert pick_run.main([str(tmp_path), "tokens", "words", "crashed"]) == 0
    assert capsys.readouterr().out.strip() == "words"
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["winner"] == "words" and sweep["failed"] == ["crashed"]
    assert sweep["baseline"]["heldout_mean"] == pytest.approx(0.3)
    table = (tmp_path / "sweep.md").read_text()
    assert "| words (winner) | 0.460 |" in table and "| crashed | failed" in table and "90 (89)" in table


def test_pick_run_puts_runs_that_could_ship_first(tmp_path: Path, capsys) -> None:
    pick_run = load_script("pick_run")

    def run(heldout: float, cloze: float, pairs: float, showcase: bool) -> dict:
        return figures({"a": heldout + 0.1}, {"a": heldout}, cloze) | {
            "cloze_top5": 0.84, "pairs_accuracy": pairs, "showcase": {"passed": showcase}}

    base = run(0.3, 0.58, 0.987, True)
    write_run(tmp_path, "wrong", run(0.50, 0.60, 0.99, False), base, 100)  # the showcase wrong
    write_run(tmp_path, "low-cloze", run(0.49, 0.54, 0.99, True), base, 100)  # under CI's cloze bar
    write_run(tmp_path, "low-pairs", run(0.48, 0.60, 0.96, True), base, 100)  # under CI's pairs bar
    write_run(tmp_path, "right", run(0.40, 0.58, 0.975, True), base, 100)
    assert pick_run.main([str(tmp_path), "wrong", "low-cloze", "low-pairs", "right"]) == 0
    assert capsys.readouterr().out.strip() == "right"
    table = (tmp_path / "sweep.md").read_text()
    assert "| right (winner) | 0.400 | 0.58 | 0.84 | 0.975 | right | yes |" in table
    assert "| wrong | 0.500 | 0.60 | 0.84 | 0.990 | wrong | no |" in table
    assert "| low-cloze | 0.490 | 0.54 | 0.84 | 0.990 | right | no |" in table
    assert "| low-pairs | 0.480 | 0.60 | 0.84 | 0.960 | right | no |" in table
    assert "shippable first" in json.loads((tmp_path / "sweep.json").read_text())["rule"]
    # when no run could ship, held-out accuracy decides among them
    other = tmp_path / "none-could"
    write_run(other, "low", run(0.40, 0.60, 0.99, False), base, 9)
    write_run(other, "high", run(0.45, 0.50, 0.99, True), base, 9)
    assert pick_run.main([str(other), "low", "high"]) == 0
    assert capsys.readouterr().out.strip() == "high"


def test_pick_run_falls_back_to_token_accuracy_and_fails_without_runs(tmp_path: Path, capsys) -> None:
    pick_run = load_script("pick_run")
    base = figures({"a": 0.4}, None, 0.5)
    write_run(tmp_path, "low", figures({"a": 0.45}, None, 0.5), base, 10)
    write_run(tmp_path, "high", figures({"a": 0.55}, None, 0.5), base, 10)
    assert pick_run.main([str(tmp_path), "low", "high"]) == 0
    assert capsys.readouterr().out.strip() == "high"
    assert pick_run.main([str(tmp_path / "empty"), "x"]) == 1
    assert "no run" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_run_scores_whole_words_per_source(tiny_bert_dir: Path, tmp_path: Path, capsys) -> None:
    evaluate_run = load_script("evaluate_run")
    corpus = tmp_path / "corpus"
    (corpus / "heldout").mkdir(parents=True)
    (corpus / "heldout" / "fables.txt").write_text(
        "the fox jumped over the lazy dog .\nthe crow sat in a tall tree .\n" * 5, encoding="utf-8")
    model = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model)
    (model / "training.json").write_text("{}")
    assert evaluate_run.main(["--model", str(model), "--baseline", str(tiny_bert_dir),
                              "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "held-out whole-word accuracy, fables" in out and "beats the baseline" in out
    assert "| the app's showcase | wrong (Fill: " in out  # a tiny random model gets it wrong
    report = json.loads((model / "evaluation.json").read_text())
    words = report["new"]["heldout_words_by_source"]["fables"]
    assert words["lines"] == 10 and words["targets"] > 0
    # the same weights: the same figures, target for target
    assert report["baseline"]["heldout_words_by_source"] == report["new"]["heldout_words_by_source"]
    assert report["beats_baseline"] is False
    showcase = report["new"]["showcase"]
    assert showcase["passed"] is False and len(showcase["pairs"]) == 3
    assert json.loads((model / "training.json").read_text())["heldout_words_by_source"] == {"fables": words}


def run_train_bundled(tmp_path: Path, sweep: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """scripts/train_bundled.sh with SWEEP, a dummy corpus and a fake ``python`` that logs its arguments."""
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name in ["train.txt.gz", "heldout.txt", "SOURCES.md"]:
        (corpus / name).write_text("x\n")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\ncat > /dev/null\n')
    fake.chmod(0o755)
    out = tmp_path / "sweep"
    done = subprocess.run(["bash", str(SCRIPTS / "train_bundled.sh")], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "CORPUS": str(corpus), "OUT": str(out),
                               "SWEEP": sweep, "SEED": "7"})
    return done, out, calls


@pytest.mark.parametrize("bad", ["2e-4x", ".", "..", "e", "-", "2e-4w_s", "*"])
def test_train_bundled_checks_every_sweep_word_before_starting_a_run(tmp_path: Path, bad: str) -> None:
    (tmp_path / "decoy").mkdir()  # a "*" must not expand to file names
    done, out, calls = run_train_bundled(tmp_path, f"1e-4 2e-4w_s3 {bad}")
    assert done.returncode == 2 and f"SWEEP word '{bad}'" in done.stderr
    assert "started" not in done.stdout and not calls.exists()  # no run was left training
    assert not out.exists() or not any(out.iterdir())


def test_train_bundled_sweep_words_set_rate_masking_and_seed(tmp_path: Path) -> None:
    done, out, calls = run_train_bundled(tmp_path, "1e-4 2e-4w_s3")
    pretrain = sorted(line for line in calls.read_text().splitlines() if " pretrain " in f" {line} ")
    assert len(pretrain) == 2, done.stderr
    plain, whole = (next(p for p in pretrain if f"/{word} " in p) for word in ["1e-4", "2e-4w_s3"])
    assert "--lr 1e-4 " in plain and "--seed 7 " in plain and "--whole-word" not in plain
    assert "--lr 2e-4 " in whole and "--seed 3 " in whole and "--whole-word" in whole
    assert (out / "1e-4").is_dir() and (out / "2e-4w_s3").is_dir()


# scripts/check_device_parity.py: the library's views on a GPU against the CPU.


def test_parity_report_flags_a_difference_and_a_shape_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    parity = load_script("check_device_parity")
    report = parity.Report("cuda")
    report.close("same", [0.5, 0.25], [0.5, 0.25 + 1e-7], 1e-4)
    report.close("apart", [0.5], [0.6], 1e-4)
    report.close("shapes", [0.5, 0.1], [0.5], 1e-4)
    report.equal("tokens", ["paris"], ["paris"])
    report.equal("ranks", [1, 2], [1, 3])
    assert report.failed == ["apart", "shapes", "ranks"]
    out = capsys.readouterr().out
    assert "ok   same" in out and "FAIL apart" in out and "cpu [1, 2], cuda [1, 3]" in out


def test_parity_script_passes_cpu_against_cpu_and_fails_a_broken_view(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    parity = load_script("check_device_parity")
    assert parity.main([str(tiny_bert_dir), "--device", "cpu", "--only", "predict", "score", "lens"]) == 0
    assert capsys.readouterr().out.strip().endswith("parity: ok")

    def broken(cpu, dev, report):  # a view that raises must fail the run, not end it
        raise RuntimeError("device-side assert")

    monkeypatch.setitem(parity.CHECKS, "lens", broken)
    assert parity.main([str(tiny_bert_dir), "--device", "cpu", "--only", "lens", "score"]) == 1
    out = capsys.readouterr().out
    assert "FAIL lens raised" in out and "parity: FAILED: lens" in out
    assert "ok   PLL" in out  # the checks after the broken one still ran
