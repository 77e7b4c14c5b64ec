"""Tiny masked-LM checkpoints built from scratch for tests (no downloads).

Each builder trains a small tokenizer on a toy corpus, builds a randomly
initialised encoder (hidden 32) and writes a standard ``save_pretrained``
folder with safetensors weights, so every loading path of the library is
exercised exactly as with a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import (
    AddedToken,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import (
    AlbertConfig,
    AlbertForMaskedLM,
    AlbertTokenizerFast,
    BertConfig,
    BertForMaskedLM,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertTokenizerFast,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaTokenizerFast,
)

TOY_CORPUS = [
    "the cat sat on the mat .",
    "the dog sat on the floor .",
    "a man went to the store to buy milk .",
    "she poured a glass of water and drank it .",
    "the capital of france is paris .",
    "paris is a beautiful city in france .",
    "he played the guitar and sang a song .",
    "the children walked to school in the morning .",
    "unbelievable things happen every day .",
    "the keys to the cabinet are on the table .",
    "birds fly south in the winter .",
    "the woman worked as a nurse at the hospital .",
    "the man worked as a carpenter in the village .",
    "reading books makes people happy .",
]


def _corpus(repeat: int = 20) -> list[str]:
    return TOY_CORPUS * repeat


def build_tiny_bert(folder: Path, seed: int = 0, vocab_size: int = 300) -> Path:
    """WordPiece tokenizer + BertForMaskedLM (2 layers, 2 heads, hidden 32)."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=64)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, pad_token_id=0,
    )
    model = BertForMaskedLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def build_tiny_roberta(folder: Path, seed: int = 0, vocab_size: int = 400) -> Path:
    """Byte-level BPE tokenizer (``<mask>``, ``Ġ`` word starts) + RobertaForMaskedLM."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # "<mask>" swallows the space before it, as in roberta-base, so " <mask>" is one
    # token and not "Ġ" + "<mask>"; it must be declared so in the trained tokenizer
    # itself (passing it to RobertaTokenizerFast later does not change the added token).
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<s>", "<pad>", "</s>", "<unk>", mask],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True,
    )
    fast = RobertaTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", model_max_length=64,
        # As in roberta-base: "<mask>" swallows the space before it.
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False),
    )
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=66, pad_token_id=tok.token_to_id("<pad>"),
        bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"),
    )
    model = RobertaForMaskedLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def build_tiny_distilbert(folder: Path, seed: int = 0, vocab_size: int = 300) -> Path:
    """WordPiece tokenizer (as BERT's) + DistilBertForMaskedLM (2 layers, 2 heads, dim 32).

    DistilBERT's head is four modules (transform, activation, layer norm,
    projector), not one: the case a head split must handle beyond BERT's ``cls``.
    """
    bert_folder = build_tiny_bert(folder / "_tokenizer", seed=seed, vocab_size=vocab_size)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert_folder).backend_tokenizer
    fast = DistilBertTokenizerFast(tokenizer_object=tok, model_max_length=64)
    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=tok.get_vocab_size(), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
        max_position_embeddings=64, pad_token_id=0,
    )
    model = DistilBertForMaskedLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def build_tiny_albert(folder: Path, seed: int = 0, vocab_size: int = 300) -> Path:
    """SentencePiece-style Unigram tokenizer (``▁`` word starts, ``[MASK]``) + AlbertForMaskedLM.

    Factorised embeddings (16 → hidden 32) and one layer group shared by 2 layers, as ALBERT does.
    """
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.Replace("``", '"'), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(_corpus(), trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = AlbertTokenizerFast(
        tokenizer_object=tok, bos_token="[CLS]", eos_token="[SEP]", cls_token="[CLS]", sep_token="[SEP]",
        unk_token="<unk>", pad_token="<pad>", model_max_length=64,
        mask_token=AddedToken("[MASK]", lstrip=True, rstrip=False),
    )
    torch.manual_seed(seed)
    config = AlbertConfig(
        vocab_size=tok.get_vocab_size(), embedding_size=16, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, pad_token_id=0,
        num_hidden_groups=1, inner_group_num=1,
    )
    model = AlbertForMaskedLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder
