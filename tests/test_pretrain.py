"""The pretraining command: packing, warm start, a tiny from-scratch run, resume, stop, CLI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertModel

from mlm_explorer.cli import main
from mlm_explorer.masking import PolicyConfig, frequency_weights
from mlm_explorer.models import load_model
from mlm_explorer.pretrain import (
    PretrainConfig,
    ScratchSize,
    candidate_ids_for,
    heldout_metrics,
    pack_lines,
    packed_collator,
    run_pretraining,
    token_counts,
    warm_start,
)
from mlm_explorer.training import lr_factor, resolve_precision
from tests.tiny_models import TOY_CORPUS

TINY = ScratchSize(vocab_size=200, layers=1, hidden=32, heads=2, intermediate=64)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train.txt"
    path.write_text("\n".join(TOY_CORPUS * 25), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """An encoder without MLM head, saved without the ``bert.`` prefix (as sentence-transformers does)."""
    folder = tmp_path_factory.mktemp("encoder")
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def test_pack_lines_keeps_every_token_and_marks_words(tiny_bert_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    lines = TOY_CORPUS
    packed = pack_lines(tok, lines, seq_len=24, seed=0)
    assert packed.input_ids.shape[1] == 24
    assert bool((packed.input_ids[:, 0] == tok.cls_token_id).all())
    body = packed.input_ids[~packed.special]
    expected = sum(len(tok(line, add_special_tokens=False)["input_ids"]) for line in lines)
    assert body.numel() == expected  # nothing dropped, nothing duplicated
    assert bool((packed.word_ids[packed.special] == -1).all())
    assert bool((packed.word_ids[~packed.special] >= 0).all())
    # each [SEP] closes a line: as many separators as lines
    assert int((packed.input_ids == tok.sep_token_id).sum()) == len(lines)


def test_pack_lines_is_the_same_whatever_the_chunk(tiny_bert_dir: Path) -> None:
    """Tokenizing a few lines at a time (to bound memory) must not change a single row."""
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    lines = [*TOY_CORPUS, " ".join(TOY_CORPUS)]  # one line longer than a row
    whole = pack_lines(tok, lines, seq_len=16, seed=3, chunk=len(lines))
    for chunk in (1, 2, 5):
        part = pack_lines(tok, lines, seq_len=16, seed=3, chunk=chunk)
        assert torch.equal(part.input_ids, whole.input_ids)
        assert torch.equal(part.word_ids, whole.word_ids)
        assert torch.equal(part.special, whole.special)
    empty = pack_lines(tok, [], seq_len=16, seed=0)
    assert empty.input_ids.shape == (0, 16) and len(empty) == 0


def test_long_line_is_split_not_cut(tiny_bert_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    long_line = " ".join(TOY_CORPUS)
    n = len(tok(long_line, add_special_tokens=False)["input_ids"])
    packed = pack_lines(tok, [long_line], seq_len=16, seed=0)
    assert int((~packed.special).sum()) == n
    assert len(packed) >= n // 14


def test_warm_start_loads_encoder_and_ties_new_head(encoder_dir: Path) -> None:
    model, tok, report = warm_start(encoder_dir)
    assert report.loaded and all(k.startswith("bert.") for k in report.loaded)
    assert any(k.startswith("cls.predictions") for k in report.new)
    assert not any(k.startswith("bert.encoder") for k in report.new)
    source = BertModel.from_pretrained(encoder_dir)
    torch.testing.assert_close(model.bert.encoder.layer[0].attention.self.query.weight,
                               source.encoder.layer[0].attention.self.query.weight)
    decoder, embeddings = model.cls.predictions.decoder.weight, model.bert.embeddings.word_embeddings.weight
    assert decoder.data_ptr() == embeddings.data_ptr()


@pytest.fixture(scope="module")
def trained_mlm_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """A masked LM whose head has learnt something (as the bundled model's has)."""
    from mlm_explorer.finetune import FinetuneConfig, finetune
    from mlm_explorer.training import save_model

    config = FinetuneConfig(steps=60, lr=3e-3, batch_size=8, warmup=0.0, probe_every=0, heldout_fraction=0.0)
    result = finetune(load_model(str(tiny_bert_dir)), TOY_CORPUS * 10, config)
    folder = tmp_path_factory.mktemp("trained_mlm")
    save_model(result.model, result.tokenizer, folder)
    return folder


def test_warm_start_from_a_masked_lm_keeps_its_trained_head(trained_mlm_dir: Path) -> None:
    """Continued pretraining (``--init`` the bundled model) must start from what the model knows."""
    model, tok, report = warm_start(trained_mlm_dir)
    assert not any(k.startswith("cls.") for k in report.new), report.new
    source = AutoModelForMaskedLM.from_pretrained(trained_mlm_dir)
    torch.testing.assert_close(model.cls.predictions.transform.dense.weight,
                               source.cls.predictions.transform.dense.weight)
    # Same held-out loss as the folder itself, far below a fresh head's ln(vocabulary).
    packed = pack_lines(tok, TOY_CORPUS, seq_len=24, seed=0)
    args = (packed, tok, candidate_ids_for(tok), PolicyConfig(), 0)
    ours, theirs = heldout_metrics(model, *args), heldout_metrics(source, *args)
    assert ours.loss == pytest.approx(theirs.loss, rel=1e-4)
    assert ours.loss < math.log(len(tok)) - 1.5


@pytest.mark.slow
def test_continued_pretraining_starts_at_the_models_loss(corpus_file: Path, trained_mlm_dir: Path,
                                                          tmp_path: Path) -> None:
    """The first steps of `pretrain --init <masked LM>` beat the same start with its head thrown away."""
    from safetensors.torch import load_file, save_file

    headless = tmp_path / "headless"
    shutil.copytree(trained_mlm_dir, headless)
    state = load_file(headless / "model.safetensors")
    save_file({k: v for k, v in state.items() if not k.startswith("cls.")}, headless / "model.safetensors")
    config = PretrainConfig(seq_len=32, batch_size=8, lr=1e-4, max_steps=2, eval_every=2, save_fp16=False)
    first: dict[str, float] = {}
    for name, folder in (("kept", trained_mlm_dir), ("new", headless)):
        messages: list[str] = []
        run_pretraining([corpus_file], tmp_path / name, config, init_dir=folder,
                        on_step=lambda s, loss, p, n=name: first.setdefault(n, loss), log=messages.append)
        assert ("new: none" in messages[1]) == (name == "kept"), messages[1]
    assert first["kept"] < first["new"] - 1.0, first


def test_lr_schedule_warms_up_then_decays() -> None:
    assert lr_factor(0.0, 0.1) == 0.0
    assert lr_factor(0.05, 0.1) == pytest.approx(0.5)
    assert lr_factor(0.1, 0.1) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert lr_factor(1.0, 0.1) == 0.0


def test_the_step_schedule_is_transformers_linear_warmup_and_no_step_is_wasted(tiny_bert_dir: Path) -> None:
    from accelerate import Accelerator
    from transformers import AutoModelForMaskedLM, get_linear_schedule_with_warmup

    from mlm_explorer.training import TrainConfig, train

    model = AutoModelForMaskedLM.from_pretrained(tiny_bert_dir)
    before = [p.detach().clone() for p in model.parameters()]
    ids = torch.randint(5, model.config.vocab_size, (4, 12))
    labels = torch.full_like(ids, -100)
    labels[:, 3] = ids[:, 3]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    rates: list[float] = []
    config = TrainConfig(lr=1e-3, warmup=0.5, max_steps=4, clip=0.0)
    train(model, [batch], config, Accelerator(cpu=True), on_step=lambda s: rates.append(s.lr))

    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = get_linear_schedule_with_warmup(reference, num_warmup_steps=2, num_training_steps=4)
    expected = []
    for _ in range(4):
        reference.step()
        schedule.step()
        expected.append(schedule.get_last_lr()[0])
    assert rates == pytest.approx(expected)  # 0.5, 1, 0.5, 0 × lr: the rate for the step after each
    model2 = AutoModelForMaskedLM.from_pretrained(tiny_bert_dir)
    train(model2, [batch], TrainConfig(lr=1e-3, warmup=0.5, max_steps=2, clip=0.0), Accelerator(cpu=True))
    moved = max(float((a - b).abs().max()) for a, b in zip(model2.parameters(), before, strict=True))
    assert moved > 0  # two steps train: only the first runs at rate 0, as in transformers


def test_a_corpus_that_is_not_utf8_is_noted(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("le café est près de la gare .\n".encode("latin-1") * 40)
    messages: list[str] = []
    config = PretrainConfig(seq_len=16, batch_size=4, lr=1e-3, max_steps=1, eval_every=1, save_fp16=False)
    run_pretraining([latin1], tmp_path / "out", config, scratch=TINY, log=messages.append)
    assert any(m.startswith("note: 40 line(s) were not valid UTF-8") for m in messages), messages


def test_precision_auto_is_bf16_only_where_the_chip_has_it() -> None:
    assert resolve_precision("auto", cuda=True, cpu_bf16=False) == "bf16"
    assert resolve_precision("auto", cuda=False, cpu_bf16=True) == "bf16"
    assert resolve_precision("auto", cuda=False, cpu_bf16=False) == "no"
    assert resolve_precision("no", cuda=True, cpu_bf16=True) == "no"  # asked for: kept
    assert resolve_precision("bf16", cuda=False, cpu_bf16=False) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8", cuda=False, cpu_bf16=True)


@pytest.mark.slow
def test_bf16_run_trains_and_records_its_precision(corpus_file: Path, tmp_path: Path) -> None:
    """bf16 autocast on a CPU: the loss still falls, the weights stay fp32, training.json says bf16."""
    config = PretrainConfig(seq_len=32, batch_size=8, lr=2e-3, max_steps=40, eval_every=40,
                            save_fp16=False, mixed_precision="bf16", policy=PolicyConfig(rate=0.3))
    losses: list[float] = []
    result = run_pretraining([corpus_file], tmp_path / "bf16", config, scratch=TINY,
                             on_step=lambda s, loss, p: losses.append(loss), log=lambda m: None)
    assert result.steps == 40
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.3
    assert AutoModelForMaskedLM.from_pretrained(tmp_path / "bf16").dtype == torch.float32
    assert json.loads((tmp_path / "bf16" / "training.json").read_text())["precision"] == "bf16"


@pytest.mark.slow
def test_from_scratch_loss_falls_and_folder_reloads(corpus_file: Path, tmp_path: Path) -> None:
    losses: list[float] = []
    config = PretrainConfig(seq_len=32, batch_size=8, lr=2e-3, max_steps=60, eval_every=30,
                            save_fp16=False, policy=PolicyConfig(rate=0.3))
    result = run_pretraining([corpus_file], tmp_path / "scratch", config, scratch=TINY,
                             on_step=lambda s, loss, p: losses.append(loss), log=lambda m: None)
    assert result.steps == 60
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5
    assert result.best is not None and result.best.targets > 0
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "scratch")
    tok = AutoTokenizer.from_pretrained(tmp_path / "scratch")
    assert len(tok) <= TINY.vocab_size and tok.mask_token == "[MASK]"
    assert model.config.vocab_size == len(tok)
    card = (tmp_path / "scratch" / "MODEL_CARD.md").read_text()
    assert "masked-token accuracy" in card and "80% mask" in card


@pytest.mark.slow
def test_warm_start_run_improves_heldout(corpus_file: Path, encoder_dir: Path, tmp_path: Path) -> None:
    config = PretrainConfig(seq_len=32, batch_size=8, lr=3e-3, max_steps=16, eval_every=8, save_fp16=True)
    result = run_pretraining([corpus_file], tmp_path / "warm", config, init_dir=encoder_dir,
                             log=lambda m: None)
    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path / "warm")
    assert reloaded.dtype == torch.float16  # stored fp16, as the bundled model is
    assert reloaded.config.tie_word_embeddings
    # Against the untrained start, on the same held-out rows with the same masks: the
    # saved model must be better (a loop that never steps the optimizer fails here).
    untrained, tok, _ = warm_start(encoder_dir)
    held = pack_lines(tok, TOY_CORPUS, seq_len=32, seed=1)
    args = (held, tok, candidate_ids_for(tok), PolicyConfig(), 0)
    before = heldout_metrics(untrained, *args)
    after = heldout_metrics(reloaded.float(), *args)
    assert after.loss < before.loss - 0.5, (before, after)
    assert result.best is not None and result.best.loss < before.loss


def test_on_step_returning_false_stops_and_saves(corpus_file: Path, tmp_path: Path) -> None:
    config = PretrainConfig(seq_len=32, batch_size=8, lr=1e-3, max_steps=500, eval_every=100, save_fp16=False)
    result = run_pretraining([corpus_file], tmp_path / "stopped", config, scratch=TINY,
                             on_step=lambda s, loss, p: s < 3, log=lambda m: None)
    assert result.steps == 3 and result.stopped == "stopped"
    assert result.history[-1].step == 3 and (tmp_path / "stopped" / "model.safetensors").exists()


@pytest.mark.slow
def test_resume_continues_from_checkpoint(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumable"
    first = PretrainConfig(seq_len=32, batch_size=8, lr=1e-3, max_steps=6, eval_every=3,
                           checkpoint_minutes=0.0, save_fp16=False)
    run_pretraining([corpus_file], out, first, scratch=TINY, log=lambda m: None)
    assert (out / "checkpoint" / "state.pt").exists()
    steps: list[int] = []
    longer = PretrainConfig(seq_len=32, batch_size=8, lr=1e-3, max_steps=9, eval_every=3, save_fp16=False)
    result = run_pretraining([corpus_file], out, longer, scratch=TINY, resume=True,
                             on_step=lambda s, loss, p: steps.append(s), log=lambda m: None)
    assert steps[0] >= 6 and result.steps == 9


@pytest.mark.slow
def test_cli_pretrain_runs_and_rejects_bad_input(corpus_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    code = main(["pretrain", "--corpus", str(corpus_file), "--out", str(out), "--from-scratch",
                 "--vocab-size", "200", "--layers", "1", "--hidden", "32", "--heads", "2",
                 "--steps", "4", "--batch-size", "4", "--seq-len", "32", "--precision", "no", "--json"])
    assert code == 0
    assert (out / "model.safetensors").exists() and (out / "MODEL_CARD.md").exists()
    assert json.loads((out / "training.json").read_text())["precision"] == "no"
    summary = json.loads(capsys.readouterr().out)  # progress lines go to stderr: stdout is JSON alone
    assert summary["steps"] == 4 and summary["best_step"] == 4
    assert summary["model"] is None and summary["from_scratch"] is True  # no model to start from
    assert main(["pretrain", "--corpus", str(tmp_path / "missing.txt"), "--out", str(out),
                 "--from-scratch", "--steps", "2"]) == 2
    assert main(["pretrain", "--corpus", str(corpus_file), "--out", str(out), "--steps", "2"]) == 2
    assert main(["pretrain", "--corpus", str(corpus_file), "--out", str(out), "--from-scratch",
                 "--rate", "1.5"]) == 2
    assert main(["pretrain", "--corpus", str(corpus_file), "--out", str(out), "--from-scratch",
                 "--precision", "fp8"]) == 2
    assert main(["pretrain", "--corpus", str(corpus_file), "--out", str(out), "--from-scratch",
                 "--mask-frequent-less", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_random_replacements_skip_special_and_unused_tokens(tiny_bert_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    tok.add_tokens(["[unused0]", "[unused1]"])
    candidates = set(candidate_ids_for(tok).tolist())
    assert not candidates & set(tok.all_special_ids)
    assert tok.convert_tokens_to_ids("[unused0]") not in candidates
    assert tok.convert_tokens_to_ids("the") in candidates


def test_frequent_tokens_masked_less_in_a_run(corpus_file: Path, tmp_path: Path) -> None:
    """--mask-frequent-less reaches the training batches and the record of the run."""
    tok_dir = tmp_path / "weighted"
    config = PretrainConfig(seq_len=32, batch_size=8, lr=1e-3, max_steps=2, eval_every=2, save_fp16=False,
                            frequent_threshold=1e-2)
    run_pretraining([corpus_file], tok_dir, config, scratch=TINY, log=lambda m: None)
    info = json.loads((tok_dir / "training.json").read_text())
    assert info["config"]["frequent_threshold"] == 1e-2
    assert "frequent tokens masked less (t = 0.01;" in (tok_dir / "MODEL_CARD.md").read_text()
    tok = AutoTokenizer.from_pretrained(tok_dir)
    rows = pack_lines(tok, TOY_CORPUS * 25, seq_len=32, seed=0)
    counts = token_counts(rows, len(tok))
    assert counts.sum().item() == int((~rows.special).sum())
    weights = frequency_weights(counts, 1e-2)
    commonest = int(counts.argmax())
    assert weights[commonest] < 1.0  # the toy corpus's commonest token is masked less

    def share_of_commonest(id_weights: torch.Tensor | None) -> float:
        collate = packed_collator(rows, tok, candidate_ids_for(tok), PolicyConfig(), 0, id_weights)
        labels = torch.cat([b["labels"] for b in collate.fixed_batches(64)])
        return ((labels == commonest).sum() / (labels != -100).sum()).item()

    assert share_of_commonest(weights) < 0.7 * share_of_commonest(None)
