"""Loading: sources, safety checks, one-line errors, cache, local model listing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mlm_explorer import models
from mlm_explorer.models import ModelLoadError, is_valid_hub_id, list_local_models, load_model


def test_loads_ready_for_inference(tiny_model_dir: Path) -> None:
    lm = load_model(tiny_model_dir)
    assert not lm.model.training
    assert lm.model.config._attn_implementation == "eager"
    assert all(p.dtype == torch.float32 for p in lm.model.parameters())
    assert lm.tokenizer.is_fast
    assert lm.mask_token in ("[MASK]", "<mask>")
    assert lm.tokenizer.convert_ids_to_tokens(lm.mask_token_id) == lm.mask_token
    assert lm.max_length == 64  # tiny tokenizers say 64; RoBERTa's 66 positions minus pad_id + 1 = 64
    assert (lm.num_layers, lm.num_heads) == (2, 2)
    assert lm.device.type in ("cpu", "cuda")


def test_cached_and_thread_safe(tiny_bert_dir: Path) -> None:
    models.clear_cache()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(load_model(tiny_bert_dir))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(lm is got[0] for lm in got)
    assert load_model(str(tiny_bert_dir) + "/") is got[0]  # same folder, other spelling


def test_default_model_from_env_and_missing_bundled(monkeypatch, tiny_bert_dir, tmp_path) -> None:
    monkeypatch.setattr(models, "BUNDLED_MODEL_DIR", tmp_path / "assets" / "model")
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    with pytest.raises(ModelLoadError, match="bundled model .*missing"):
        load_model()
    monkeypatch.setenv(models.MODEL_ENV, str(tiny_bert_dir))
    assert load_model() is load_model(tiny_bert_dir)


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


def test_not_found_and_invalid_names(tmp_path) -> None:
    for name in (str(tmp_path / "nothing"), "./nothing", "a/b/c", "not a model id"):
        with pytest.raises(ModelLoadError) as err:
            load_model(name)
        assert "not found" in _one_line(err).lower()


def test_hub_unreachable_offline() -> None:
    # conftest sets HF_HUB_OFFLINE=1: a hub id that is not cached cannot be fetched.
    with pytest.raises(ModelLoadError) as err:
        load_model("mlm-explorer-tests/surely-not-cached")
    assert "unreachable" in _one_line(err)


def test_folder_without_config_or_safetensors(tmp_path, tiny_bert_dir) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(empty)
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    weights = load_model(tiny_bert_dir).model.state_dict()
    (pickled / "model.safetensors").unlink()
    torch.save(weights, pickled / "pytorch_model.bin")
    with pytest.raises(ModelLoadError) as err:
        load_model(pickled)
    assert "safetensors" in _one_line(err)


def test_not_a_masked_lm_and_remote_code_refused(tmp_path) -> None:
    from transformers import GPT2Config

    gpt = tmp_path / "gpt2"
    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(gpt)
    (gpt / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError) as err:
        load_model(gpt)
    assert "not a masked language model" in _one_line(err)

    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "config.json").write_text(
        json.dumps({"model_type": "my-encoder", "auto_map": {"AutoConfig": "configuration.MyConfig"}})
    )
    (custom / "model.safetensors").write_bytes(b"")
    (custom / "configuration.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ModelLoadError) as err:
        load_model(custom)
    assert "trust_remote_code" in _one_line(err)


@pytest.mark.parametrize(
    "name, ok",
    [
        ("bert-base-uncased", True),
        ("distilbert/distilroberta-base", True),
        ("a/b/c", False),
        ("../etc", False),
        ("", False),
        (" bert", False),
        ("has space", False),
    ],
)
def test_is_valid_hub_id(name: str, ok: bool) -> None:
    assert is_valid_hub_id(name) is ok


def test_list_local_models(tmp_path, monkeypatch, tiny_bert_dir, tiny_roberta_dir) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_bert_dir, root / "bert-tiny")
    shutil.copytree(tiny_roberta_dir, root / "finetuned" / "run-1")
    (root / "junk").mkdir()
    (root / "junk" / "notes.txt").write_text("not a model")
    found = list_local_models(root)
    assert [m.name for m in found] == ["bert-tiny", "finetuned/run-1"]
    assert load_model(found[1].path).mask_token == "<mask>"
    monkeypatch.setenv(models.MODELS_DIR_ENV, str(root))
    assert list_local_models() == found
    assert list_local_models(tmp_path / "absent") == []


@pytest.mark.slow
def test_library_does_not_import_gradio() -> None:
    import pkgutil

    import mlm_explorer

    names = [
        f"mlm_explorer.{m.name}"
        for m in pkgutil.iter_modules(mlm_explorer.__path__)
        if not m.name.startswith("ui")
    ]
    assert "mlm_explorer.predict" in names and "mlm_explorer.cli" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'gradio' or m.startswith('gradio.'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
