"""Shared benchmark helpers: a bundled-model-sized checkpoint and a timing loop.

The bundled encoder has the shape of all-MiniLM-L6 with a BERT vocabulary
(6 layers, hidden 384, 12 heads, 30,522 tokens). Until it exists, benchmarks
build a randomly initialised model of that shape, so timings are meaningful
(random weights change the numbers, not the cost).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

WORDS = (
    "the a an of to in on at is was are were and or but it he she they we you i this that with for as by "
    "from cat dog man woman city capital france paris sat mat floor store milk water glass song guitar "
    "children school morning winter birds fly south keys cabinet table nurse hospital carpenter village "
    "books people happy beautiful walked played sang poured drank went buy reading makes worked every day ."
).split()


def build_minilm_sized(folder: Path) -> Path:
    """Write a random BertForMaskedLM (6 × 384, 12 heads, 30,522 WordPiece tokens) to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab_list = specials + sorted(set(WORDS))
    vocab_list += [f"##w{i}" for i in range(30522 - len(vocab_list))]
    vocab = {t: i for i, t in enumerate(vocab_list)}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=512)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
        intermediate_size=1536, tie_word_embeddings=True,
    )
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", help="model folder or hub id (default: a random MiniLM-sized BERT)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, like a Space)")
    parser.add_argument("--repeat", type=int, default=0, help="timed runs (default: per benchmark)")
    return parser.parse_args()


def resolve_model(args: argparse.Namespace, tmp: tempfile.TemporaryDirectory):
    import torch

    from mlm_explorer.models import load_model

    torch.set_num_threads(args.threads)
    name = args.model or str(build_minilm_sized(Path(tmp.name) / "minilm-sized"))
    return load_model(name, device="cpu")


def median_seconds(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
