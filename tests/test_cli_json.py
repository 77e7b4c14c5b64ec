"""One JSON convention across the commands, and bad input that says one line and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_support import json_cli, run_cli

CANDIDATE_KEYS = {"token", "id", "prob"}
RETIRED_KEYS = {"base_model", "a", "b", "predictions_repeated"}


_run, _json = run_cli, json_cli


def _walk(value: object, path: str = ""):
    """Every (path, key, value) of nested dicts, for checks that must hold at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path, key, inner
            yield from _walk(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner, path + "[]")


def _files(tmp_path: Path) -> dict[str, Path]:
    cloze = tmp_path / "cloze.jsonl"
    cloze.write_text('{"text": "the cat [MASK] on the mat .", "answers": ["sat"]}\n'
                     '{"text": "the [MASK] sat .", "answers": ["dog"]}\n')
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the cat sat .\tthe cat sit .\tverb\n")
    quiz = tmp_path / "quiz.txt"
    quiz.write_text("the [cat] sat on the mat .\nthe [dog] sat .\n")
    return {"cloze": cloze, "pairs": pairs, "quiz": quiz}


def _every_command(tiny_bert_dir: Path, files: dict[str, Path]) -> dict[str, list[str]]:
    m = ["--model", str(tiny_bert_dir)]
    return {
        "predict": ["predict", "the cat [MASK] on the mat .", "--top-k", "3", *m],
        "predict --iterative": ["predict", "the [MASK] sat on the [MASK] .", "--iterative", *m],
        "mask": ["mask", "the cat sat on the mat .", "--rate", "0.5", *m],
        "score": ["score", "the cat sat .", *m],
        "attention": ["attention", "the cat sat .", *m],
        "eval-cloze": ["eval-cloze", str(files["cloze"]), *m],
        "eval-pairs": ["eval-pairs", str(files["pairs"]), *m],
        "generate": ["generate", "--length", "3", *m],
        "compare sentences": ["compare", "the cat [MASK] .", "the dog [MASK] .", *m],
        "compare models": ["compare", "the cat [MASK] .", "--with", str(tiny_bert_dir), *m],
        "quiz": ["quiz", str(files["quiz"]), "--top-k", "3", *m],
        "layers": ["layers", "the cat [MASK] .", "--top-k", "2", *m],
        "saliency": ["saliency", "the cat [MASK] .", "--steps", "4", *m],
        "attention-diff": ["attention-diff", "the cat sat .", "--position", "2", *m],
        "tokenize": ["tokenize", "the cat sat .", *m],
    }


def test_every_command_names_its_model_and_lists_candidates_one_way(capsys, tmp_path, tiny_bert_dir):
    for name, argv in _every_command(tiny_bert_dir, _files(tmp_path)).items():
        data = _json(capsys, *argv)
        assert data.get("model") == str(tiny_bert_dir), name
        assert not RETIRED_KEYS & set(data), (name, RETIRED_KEYS & set(data))
        for where, key, value in _walk(data):
            if key == "top_k" and isinstance(value, list):  # generate's top_k is its sampling setting
                assert value and all(set(c) == CANDIDATE_KEYS for c in value), (name, where, value)
            if key in ("top1", "top5"):
                assert isinstance(value, float) and 0.0 <= value <= 1.0, (name, where, key, value)
            if key in ("hits1", "hits5"):
                assert isinstance(value, int), (name, where, key, value)


def test_iterative_json_says_each_step_once(capsys, tiny_bert_dir):
    text = "the [MASK] sat on the [MASK] ."
    data = _json(capsys, "predict", text, "--iterative", "--model", str(tiny_bert_dir))
    assert [s["step"] for s in data["steps"]] == [1, 2]
    assert "predictions" not in data  # it repeated `steps` under a second name


def test_quiz_and_cloze_give_shares_beside_counts(capsys, tmp_path, tiny_bert_dir):
    files = _files(tmp_path)
    for argv in (["quiz", str(files["quiz"])], ["eval-cloze", str(files["cloze"])]):
        data = _json(capsys, *argv, "--model", str(tiny_bert_dir))
        assert data["n"] == 2
        assert data["top1"] == data["hits1"] / 2 and data["top5"] == data["hits5"] / 2
    quiz = _json(capsys, "quiz", str(files["quiz"]), "--model", str(tiny_bert_dir))
    item = quiz["items"][0]
    assert {"model", "guesses", "student_hit1", "student_hit5"}.isdisjoint(item)  # no student here
    assert {"sentence", "answer", "top_k", "model_hit1", "model_hit5"} <= set(item)


def test_compare_names_both_models(capsys, tiny_bert_dir, tiny_roberta_dir):
    two = _json(capsys, "compare", "the cat [MASK] .", "--with", str(tiny_roberta_dir),
                "--model", str(tiny_bert_dir))
    assert (two["kind"], two["model"]) == ("models", str(tiny_bert_dir))
    assert two["model_b"] == str(tiny_roberta_dir)
    one = _json(capsys, "compare", "the cat [MASK] .", "the dog [MASK] .", "--model", str(tiny_bert_dir))
    assert (one["kind"], one["model_b"]) == ("sentences", None)


@pytest.mark.parametrize("command", [
    ["predict", "the [MASK] ."], ["layers", "the [MASK] ."], ["compare", "the [MASK] .", "a [MASK] ."],
    ["quiz"],
])
def test_top_k_is_capped_with_a_usage_error(capsys, tiny_bert_dir, command):
    from mlm_explorer.predict import MAX_TOP_K  # the Fill tab's slider stops here too

    code, out, err = _run(capsys, *command, "--top-k", "100000", "--model", str(tiny_bert_dir))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error:") and f"at most {MAX_TOP_K}" in err, err
    if command[0] == "predict":  # the limit itself is allowed
        data = _json(capsys, *command, "--top-k", str(MAX_TOP_K), "--model", str(tiny_bert_dir))
        assert len(data["predictions"][0]["top_k"]) == min(MAX_TOP_K, 100)


def _file_commands(path: str, tmp_path: Path) -> list[list[str]]:
    out = str(tmp_path / "out")
    return [
        ["eval-cloze", path], ["eval-pairs", path], ["quiz", path],
        ["finetune", "--data", path, "--out", out],
        ["pretrain", "--corpus", path, "--from-scratch", "--out", out],
        ["corpus", "--exclude", path, "--out", out],
    ]


def test_a_missing_file_is_named_the_same_way_by_every_command(capsys, tmp_path):
    missing = tmp_path / "no-such.txt"
    for argv in _file_commands(str(missing), tmp_path):
        code, out, err = _run(capsys, *argv)
        assert (code, out, err) == (2, "", f"error: No such file: {missing}\n"), argv
    for argv in _file_commands(str(tmp_path), tmp_path):
        code, out, err = _run(capsys, *argv)
        assert (code, out, err) == (2, "", f"error: {tmp_path} is a folder, not a file\n"), argv
    assert not (tmp_path / "out").exists()


def test_replace_problem_only_lets_a_writer_replace_its_own_folder(tmp_path):
    from mlm_explorer.data import replace_problem

    assert replace_problem(tmp_path / "new", "finetune.json") == ""
    (tmp_path / "empty").mkdir()
    assert replace_problem(tmp_path / "empty", "finetune.json") == ""
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "finetune.json").write_text("{}")
    assert replace_problem(tmp_path / "ours", "finetune.json") == ""
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("keep me")
    assert "not written by this command" in replace_problem(tmp_path / "theirs", "finetune.json")
    assert "current folder" in replace_problem(Path(""), "finetune.json", cwd=tmp_path / "ours")
    assert "current folder" in replace_problem(tmp_path, "finetune.json", cwd=tmp_path / "ours")
    assert "not a folder" in replace_problem(tmp_path / "theirs" / "notes.txt", "finetune.json")


def test_finetune_and_corpus_never_delete_a_folder_they_did_not_write(capsys, tmp_path, monkeypatch,
                                                                       tiny_bert_dir):
    """`finetune --out ""` replaced the current folder whole (rmtree) after training; now refused first."""
    data = tmp_path / "toy.txt"
    data.write_text("the cat sat on the mat .\n" * 4)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep me")
    monkeypatch.chdir(theirs)
    ft = ["finetune", "--model", str(tiny_bert_dir), "--data", str(data), "--steps", "1"]
    for out in ("", str(theirs)):
        code, _, err = _run(capsys, *ft, "--out", out)
        assert code == 2 and err.startswith("error: --out: ") and err.count("\n") == 1, err
    corpus = ["pretrain", "--corpus", str(data), "--from-scratch", "--steps", "1"]
    code, _, err = _run(capsys, *corpus, "--out", "")  # it wrote its model files into the current folder
    assert code == 2 and "current folder" in err and err.count("\n") == 1, err
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "corpus", "--out", str(theirs), "--exclude")
    assert code == 2 and "not written by this command" in err and err.count("\n") == 1, err
    code, _, err = _run(capsys, *corpus, "--out", str(theirs))
    assert code == 2 and "no training.json or checkpoint in it" in err, err
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
    assert (theirs / "notes.txt").read_text() == "keep me"


def test_an_empty_second_model_is_a_usage_error(capsys, tiny_bert_dir):
    code, out, err = _run(capsys, "tokenize", "the cat", "--compare", "", "--model", str(tiny_bert_dir))
    assert code == 2 and out == "" and err.startswith("error: No model given"), err


def test_a_bad_repeat_names_only_itself(capsys, tmp_path):
    code, _, err = _run(capsys, "corpus", "--out", str(tmp_path / "c"), "--repeat", "wordnet=0", "--exclude")
    assert code == 2 and err == "error: a repeat must be a whole number of at least 1: {'wordnet': 0}.\n", err
