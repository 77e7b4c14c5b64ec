"""The four "inside a prediction" commands: JSON shapes as documented, one-line errors."""

from __future__ import annotations

import json

from mlm_explorer import cli


def _json(capsys, *argv: str) -> dict:
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_layers_json(capsys, tiny_model_dir) -> None:
    model = ["--model", str(tiny_model_dir)]
    data = _json(capsys, "layers", "the cat sat on the [MASK] .", "--top-k", "3", *model)
    assert {"model", "tokens", "position", "layers"} <= set(data)
    assert data["tokens"][data["position"]] in ("[MASK]", "<mask>")
    assert [entry["layer"] for entry in data["layers"]] == [0, 1, 2]  # embeddings + 2 layers
    for entry in data["layers"]:
        assert {"layer", "top_k", "final_rank", "original_rank"} <= set(entry)
        assert len(entry["top_k"]) == 3 and set(entry["top_k"][0]) == {"token", "id", "prob"}
    assert data["layers"][-1]["final_rank"] == 1 and data["layers"][-1]["original_rank"] is None


def test_saliency_json(capsys, tiny_bert_dir) -> None:
    data = _json(capsys, "saliency", "the cat sat on the mat .", "--position", "2", "--steps", "8",
                 "--model", str(tiny_bert_dir))
    assert {"model", "tokens", "position", "target", "attributions", "completeness_gap"} <= set(data)
    n = len(data["tokens"])
    assert data["position"] == 2 and data["tokens"][2] == "[MASK]"
    assert len(data["attributions"]["grad_x_input"]) == len(data["attributions"]["integrated_gradients"]) == n
    model = ["--model", str(tiny_bert_dir)]
    data = _json(capsys, "saliency", "the cat [MASK] on the mat .", "--target", "sat", *model)
    assert data["target"] == "sat"


def test_attention_diff_json(capsys, tiny_roberta_dir) -> None:
    data = _json(capsys, "attention-diff", "the cat sat on the mat .", "--position", "2",
                 "--model", str(tiny_roberta_dir))
    assert data["positions"] == [2] and data["masked_tokens"][2] == "<mask>"
    assert len(data["head_change"]) == data["layers"] and len(data["head_change"][0]) == data["heads"]
    n = len(data["tokens"])
    assert len(data["difference"][0][0]) == n and len(data["difference"][0][0][0]) == n


def test_tokenize_json_side_by_side(capsys, tiny_bert_dir, tiny_roberta_dir) -> None:
    data = _json(capsys, "tokenize", "Unbelievable things", "--model", str(tiny_bert_dir),
                 "--compare", str(tiny_roberta_dir))
    assert data["algorithm"] == "WordPiece" and data["compare"]["algorithm"] == "byte-level BPE"
    first = data["tokens"][1]
    keys = {"position", "id", "token", "start", "end", "piece", "word", "continues_word", "special"}
    assert keys <= set(first)
    assert data["text"][first["start"]:first["end"]] == first["piece"]


def test_inside_commands_report_mistakes_in_one_line(capsys, tiny_bert_dir) -> None:
    model = ["--model", str(tiny_bert_dir)]
    for argv in (
        ["layers", "no blank here", *model],
        ["saliency", "the [MASK] sat", "--target", "zzzz qqq", *model],
        ["saliency", "", *model],
        ["attention-diff", "the cat sat", "--position", "40", *model],
        ["attention-diff", "the cat sat", *model],
        ["tokenize", "   ", *model],
    ):
        code = cli.main(argv)
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (argv, err)
