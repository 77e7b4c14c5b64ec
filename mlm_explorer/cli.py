"""Command line: ``mlm-explorer <command> ...`` (or ``python -m mlm_explorer <command> ...``).

Each command is a pair ``_add_<name>_parser(subparsers)`` / ``_run_<name>(args) -> int``
registered in :data:`COMMANDS`; adding a command is one pair and one line there.
Every command but ``app`` takes ``--json`` (machine-readable output on stdout); those
that run an existing model take ``--model`` (a folder or a Hugging Face id;
default: see :func:`mlm_explorer.models.default_model_name`). ``corpus``
builds text and ``pretrain`` names its start with ``--init`` / ``--from-scratch``.

Bad input (empty text, no mask, nonsense settings, an unknown model, an
unreadable file) prints one line ``error: ...`` on stderr and exits with 2,
never a traceback; a missing file is ``No such file: PATH`` for every command.
Notices such as truncation go to stderr as ``note: ...`` (and into the JSON as
``message``).

JSON, the same in every command (README, "Command line", lists each one's keys):
the model is ``model``; scores are shares in [0, 1] (``top1``, ``top5``) with
counts beside them (``n``, ``hits1``, ``hits5``); a candidate list is
``top_k: [{"token", "id", "prob"}, ...]`` (``Candidate.to_dict``); nothing is
said twice.

This module only parses arguments and prints; the work is in the library.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mlm_explorer.predict import MAX_TOP_K

EXIT_USAGE = 2  # bad input or settings, as argparse itself uses


class UsageError(Exception):
    """A user mistake: reported as one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as one line instead of usage + exit."""

    def error(self, message: str):  # noqa: D401 - argparse's API
        raise UsageError(f"{self.prog}: {message}")


# ---------------------------------------------------------------------------- helpers


def _add_common(parser: argparse.ArgumentParser) -> None:
    """--model and --json, which every command takes."""
    parser.add_argument(
        "--model",
        default=None,
        help="model folder or Hugging Face id (default: $MLM_EXPLORER_MODEL or the bundled assets/model)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _load(args: argparse.Namespace):
    from mlm_explorer.models import load_model

    return load_model(args.model)


def _emit_json(payload: dict) -> None:
    json.dump(payload, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def _note(message: str) -> None:
    if message:
        print(f"note: {message}", file=sys.stderr)


def _fraction(name: str) -> Callable[[str], float]:
    """argparse type for a number in [0, 1]."""

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            message = f"{name} must be a number between 0 and 1, got {value!r}"
            raise argparse.ArgumentTypeError(message) from None
        if not 0.0 <= number <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must be between 0 and 1, got {value}")
        return number

    return parse


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {number}")
    return number


def _top_k(value: str) -> int:
    """argparse type for --top-k: 1 to predict.MAX_TOP_K, the app's Fill tab's limit."""
    number = _positive_int(value)
    if number > MAX_TOP_K:
        # a usage error, not a clamp: `--top-k 100000` once printed the whole vocabulary
        raise argparse.ArgumentTypeError(f"expected at most {MAX_TOP_K} candidates, got {number}")
    return number


def _add_top_k(parser: argparse.ArgumentParser, what: str) -> None:
    """--top-k, the same for every command that lists candidates."""
    parser.add_argument("--top-k", type=_top_k, default=5, help=f"{what} (default 5, at most {MAX_TOP_K})")


def _input_file(path: Path) -> Path:
    """The one wording, for every command that reads a file, of a file that is not there.

    Checked before a model loads; the library's readers say only the file's name
    (the app's uploads have temporary paths), here the path as typed is the useful part.
    """
    if not path.exists():
        raise UsageError(f"No such file: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a file")
    return path


def _shares(n: int, hits1: int, hits5: int) -> dict:
    """Top-1/top-5 as shares in [0, 1] with the counts beside them: one convention for every score."""
    return {"n": n, "top1": hits1 / n if n else 0.0, "top5": hits5 / n if n else 0.0,
            "hits1": hits1, "hits5": hits5}


def _port(value: str) -> int:
    """argparse type for a TCP port: `app --port -1` died in the server's bind() with a traceback."""
    number = _positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"a port is from 1 to 65535, got {number}")
    return number


def _fmt_prob(p: float | None) -> str:
    return "-" if p is None else f"{p:.4f}"


# ---------------------------------------------------------------------------- predict


def _add_predict_parser(subparsers) -> None:
    p = subparsers.add_parser("predict", help="top-k fills for the [MASK]s of a text")
    p.add_argument("text", help='text with [MASK] or <mask>, e.g. "Paris is the [MASK] of France."')
    _add_top_k(p, "candidates per position")
    p.add_argument("--positions", type=int, nargs="+", default=(), help="also mask these token positions")
    p.add_argument("--whole-word", action="store_true", help="extend --positions to whole words")
    p.add_argument("--all-positions", action="store_true", help="predict at every non-special position")
    p.add_argument("--iterative", action="store_true", help="fill masks one at a time, most confident first")
    _add_common(p)


def _run_predict(args: argparse.Namespace) -> int:
    from mlm_explorer.predict import iterative_fill, predict

    lm = _load(args)
    if args.iterative:
        if args.positions or args.all_positions:
            raise UsageError("--iterative fills typed masks only; drop --positions / --all-positions.")
        result = iterative_fill(lm, args.text, top_k=args.top_k)
        _note(result.message)
        if args.json:
            _emit_json(result.to_dict())  # `steps` only: it once repeated them as `predictions`
            return 0
        for step in result.steps:
            pred = step.prediction
            chosen = step.chosen
            print(f"step {step.step}: position {pred.position} -> {chosen.token} ({chosen.prob:.4f})")
        print(result.filled_text)
        return 0
    result = predict(
        lm, args.text, top_k=args.top_k, positions=args.positions, all_positions=args.all_positions,
        whole_word=args.whole_word,
    )
    _note(result.message)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    for pred in result.predictions:
        original = ""
        if pred.original is not None:
            p_orig = _fmt_prob(pred.original_prob)
            original = f" (original {pred.original}: p={p_orig}, rank {pred.original_rank})"
        print(f"[{pred.position}] {pred.input_token}{original}  entropy {pred.entropy:.3f} nats")
        for c in pred.top_k:
            print(f"    {c.token:<20} {c.prob:.4f}")
    return 0


# ---------------------------------------------------------------------------- mask


def _add_mask_parser(subparsers) -> None:
    from mlm_explorer.masking import MAX_SEED

    p = subparsers.add_parser("mask", help="apply BERT's 80/10/10 masking policy to a text")
    p.add_argument("text")
    p.add_argument("--rate", type=_fraction("--rate"), default=0.15, help="selection probability (0.15)")
    p.add_argument("--mask-share", type=_fraction("--mask-share"), default=0.8, help="selected → mask (0.8)")
    p.add_argument("--random-share", type=_fraction("--random-share"), default=0.1, help="→ random (0.1)")
    p.add_argument("--whole-word", action="store_true", help="select whole words, not word pieces")
    p.add_argument("--seed", type=int, default=0,
                   help=f"0..{MAX_SEED}; the same seed gives the same plan (default 0)")
    _add_common(p)


def _run_mask(args: argparse.Namespace) -> int:
    from mlm_explorer.masking import PolicyConfig, check_seed, validate_policy
    from mlm_explorer.predict import mask_text
    from mlm_explorer.tokens import check_text

    config = PolicyConfig(args.rate, args.mask_share, args.random_share, whole_word=args.whole_word)
    validate_policy(config)  # before loading a model: settings errors come first and fast
    check_seed(args.seed)
    check_text(args.text)
    lm = _load(args)
    result = mask_text(lm, args.text, config, seed=args.seed)
    _note(result.message)
    if args.json:
        _emit_json({"model": lm.name, **result.to_dict()})
        return 0
    width = max(len(t) for t in result.tokens)
    rows = zip(result.tokens, result.plan.actions, result.corrupted_tokens, strict=True)
    for i, (tok, act, new) in enumerate(rows):
        print(f"{i:>4} {tok:<{width}}  {act.value:<6} {new if act.value != 'none' else ''}")
    return 0


# ---------------------------------------------------------------------------- score


def _add_score_parser(subparsers) -> None:
    p = subparsers.add_parser("score", help="pseudo-log-likelihood and pseudo-perplexity of a sentence")
    p.add_argument("text")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="masked copies per forward pass")
    _add_common(p)


def _run_score(args: argparse.Namespace) -> int:
    from mlm_explorer.predict import pseudo_log_likelihood

    result = pseudo_log_likelihood(_load(args), args.text, batch_size=args.batch_size)
    _note(result.message)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    for tok, lp in zip(result.tokens, result.token_log_probs, strict=True):
        if lp is not None:
            print(f"{tok:<20} {lp:9.4f}")
    print(f"PLL {result.pll:.4f}   pseudo-perplexity {result.pseudo_perplexity:.4f}")
    return 0


# ---------------------------------------------------------------------------- attention


def _add_attention_parser(subparsers) -> None:
    p = subparsers.add_parser("attention", help="attention weights (layers x heads x T x T)")
    p.add_argument("text")
    p.add_argument("--rollout", action="store_true", help="also output attention rollout per layer")
    _add_common(p)


def _rounded(array) -> list:
    # float64 first: a float32 rounded to 6 places prints as 0.5046510100364685 once it is a Python float
    return array.astype("float64").round(6).tolist()


def _run_attention(args: argparse.Namespace) -> int:
    from mlm_explorer.attention import rollout
    from mlm_explorer.predict import attention_for_text

    lm = _load(args)
    maps, message = attention_for_text(lm, args.text)
    _note(message)
    if args.json:
        payload = {
            "model": lm.name,
            "truncated": bool(message),  # the only notice attention_for_text gives is the cut
            "message": message,
            "tokens": list(maps.tokens),
            "layers": maps.num_layers,
            "heads": maps.num_heads,
            "attention": _rounded(maps.array),
        }
        if args.rollout:
            payload["rollout"] = _rounded(rollout(maps))
        _emit_json(payload)
        return 0
    print(f"{maps.num_layers} layers x {maps.num_heads} heads over {len(maps.tokens)} tokens")
    last = rollout(maps)[-1]
    print("rollout (last layer): where each token's representation comes from, top 3")
    for i, tok in enumerate(maps.tokens):
        top = last[i].argsort()[::-1][:3]
        print(f"  {tok:<16} " + ", ".join(f"{maps.tokens[j]} {last[i, j]:.2f}" for j in top))
    return 0


# ---------------------------------------------------------------------------- eval-cloze


def _add_eval_cloze_parser(subparsers) -> None:
    p = subparsers.add_parser("eval-cloze", help='top-1/top-5 accuracy on a JSONL of {"text", "answers"}')
    p.add_argument("file", type=Path, help="JSON lines with a [MASK] in text and a list of answers")
    _add_common(p)


def _run_eval_cloze(args: argparse.Namespace) -> int:
    from mlm_explorer.cloze import evaluate_cloze, read_cloze_file

    items = read_cloze_file(_input_file(args.file))  # read before loading: a bad file fails fast
    result = evaluate_cloze(_load(args), items)
    _note(result.message)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    print(f"{result.n} items   top-1 {result.top1:.3f}   top-5 {result.top5:.3f}   model {result.model}")
    return 0


# ---------------------------------------------------------------------------- eval-pairs


def _add_eval_pairs_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval-pairs", help="share of minimal pairs where the grammatical sentence has the higher PLL"
    )
    p.add_argument("file", type=Path, help="TSV: grammatical<TAB>ungrammatical[<TAB>phenomenon]")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="masked copies per forward pass")
    _add_common(p)


def _run_eval_pairs(args: argparse.Namespace) -> int:
    from mlm_explorer.cloze import evaluate_pairs, read_pairs_file

    pairs = read_pairs_file(_input_file(args.file))  # read before loading: a bad file fails fast
    result = evaluate_pairs(_load(args), pairs, batch_size=args.batch_size)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    print(f"{result.n} pairs   accuracy {result.accuracy:.3f}   model {result.model}")
    for score in result.by_phenomenon:
        if score.phenomenon:
            print(f"  {score.phenomenon:<28} {score.accuracy:.3f}  ({score.n} pairs)")
    return 0


# ---------------------------------------------------------------------------- finetune


def _add_finetune_parser(subparsers) -> None:
    from mlm_explorer.finetune import FinetuneConfig, default_lr
    from mlm_explorer.training import PRECISIONS

    d = FinetuneConfig()
    p = subparsers.add_parser(
        "finetune", help="fine-tune on a small text; writes a save_pretrained folder, a card and a zip"
    )
    add = p.add_argument
    add("--data", type=Path, required=True, help=".txt (a line or paragraph each), .csv/.tsv, .jsonl")
    add("--out", type=Path, required=True, help="output folder, e.g. models/recipes")
    add("--steps", type=_positive_int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    add("--lr", type=float, default=None,
        help=f"peak learning rate (default {default_lr(False):g}; {default_lr(True):g} from scratch)")
    add("--rate", type=_fraction("--rate"), default=d.rate, help=f"masking rate (default {d.rate})")
    add("--seed", type=int, default=d.seed, help=f"split, shuffle and masking seed (default {d.seed})")
    add("--batch-size", type=_positive_int, default=d.batch_size, help=f"default {d.batch_size}")
    add("--max-seconds", type=float, default=None, help="stop after this many seconds of training")
    add("--text-column", default=None, help='CSV/TSV column or JSONL field (default "text")')
    add("--from-scratch", action="store_true", help="start from a random small encoder, same tokenizer")
    add("--probe", action="append", default=[], help="a sentence with [MASK] to compare (repeatable)")
    add("--no-zip", action="store_true", help="do not write OUT.zip next to the folder")
    add("--precision", choices=PRECISIONS, default=d.precision,
        help="bf16 mixed precision; auto: on a GPU or a CPU with native bf16 (default auto)")
    _add_common(p)


def _run_finetune(args: argparse.Namespace) -> int:
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from mlm_explorer.data import read_file, replace_problem
    from mlm_explorer.finetune import SUMMARY_FILE, FinetuneConfig, finetune, save_finetuned, validate_config

    # read before loading: a bad file fails fast
    data = read_file(_input_file(args.data), text_column=args.text_column)
    if problem := replace_problem(args.out, SUMMARY_FILE):  # before training, not after it
        raise UsageError(f"--out: {problem}")
    config = validate_config(FinetuneConfig(  # nonsense settings fail before the model loads
        steps=args.steps, lr=args.lr, rate=args.rate, seed=args.seed, batch_size=args.batch_size,
        max_seconds=args.max_seconds, from_scratch=args.from_scratch, precision=args.precision,
    ))
    lm = _load(args)
    main_process = PartialState().is_main_process  # under `accelerate launch`, one process reports
    for note in data.notes:
        _note(note)
    with tqdm(total=config.steps, desc="fine-tuning", unit="step", file=sys.stderr,
              disable=not main_process) as bar:

        def on_step(step: int, loss: float, info) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")

        result = finetune(lm, data, config, probes=args.probe, on_step=on_step)
    if not main_process:
        return 0
    saved = save_finetuned(result, args.out, make_zip=not args.no_zip)
    summary = result.summary()
    summary["out"] = str(saved.folder)
    summary["zip"] = str(saved.zip_path) if saved.zip_path else None
    if args.json:
        _emit_json(summary)
        return 0
    b, a = summary["before"], summary["after"]
    print(f"{summary['steps']} steps ({summary['stopped']}) in {summary['seconds']} s, "
          f"{summary['tokens_per_second']:,.0f} tokens/s")
    print(f"masked-token accuracy {b['accuracy']:.3f} -> {a['accuracy']:.3f}, "
          f"loss {b['loss']:.3f} -> {a['loss']:.3f}")
    for row in summary["probes"]:
        print(f"  {row['text']}: {row['before']} -> {row['after']}")
    print(f"saved to {summary['out']}" + (f" and {summary['zip']}" if summary["zip"] else ""))
    return 0


# ---------------------------------------------------------------------------- corpus / pretrain


def _source_setting(kind: type, name: str) -> Callable[[str], tuple[str, float | int]]:
    """argparse type for NAME=VALUE (e.g. ``bible=0.1`` for --max-share)."""

    def parse(value: str) -> tuple[str, float | int]:
        source, sep, number = value.partition("=")
        try:
            if not sep:
                raise ValueError
            return source.strip(), kind(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes SOURCE=NUMBER, got {value!r}") from None

    return parse


def _add_corpus_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "corpus", help="build a pretraining corpus from fetched or installed sources (see SOURCES.md)"
    )
    add = p.add_argument
    add("--out", type=Path, default=Path("corpus"), help="output folder (default corpus/), replaced whole")
    add("--sources", nargs="+", default=None, metavar="NAME",
        help="sources to use (default: all that are fetched or installed; --list shows them)")
    add("--source-dir", type=Path, action="append", default=None, metavar="DIR",
        help="where scripts/fetch_corpus_sources.sh put the packages (default corpus-sources/; repeatable)")
    add("--max-share", type=_source_setting(float, "--max-share"), action="append", default=[],
        metavar="NAME=F", help="cap a source at this share of the training words, e.g. bible=0.1")
    add("--repeat", type=_source_setting(int, "--repeat"), action="append", default=[],
        metavar="NAME=N", help="copies of a source's training lines, e.g. wikipedia=2")
    add("--max-words", type=_positive_int, default=None, help="cap the training words in all")
    add("--heldout-every", type=_positive_int, default=50, help="hold out 1 line in N (default 50)")
    add("--no-gzip", action="store_true", help="write train.txt instead of train.txt.gz")
    add("--exclude", type=Path, nargs="*", default=None, metavar="FILE",
        help="evaluation files (.jsonl cloze, .tsv pairs) whose sentences the corpus must not contain "
             "(default: tests/data/cloze_public.jsonl and tests/data/minimal_pairs.tsv where they exist)")
    add("--list", action="store_true", help="list the sources, whether each is found, and exit")
    add("--json", action="store_true", help="print machine-readable JSON")


def _run_corpus(args: argparse.Namespace) -> int:
    from mlm_explorer.corpus import SOURCES, CorpusConfig, build_corpus
    from mlm_explorer.corpus.base import DEFAULT_SOURCE_DIR
    from mlm_explorer.corpus.build import DEFAULT_EXCLUDE, evaluation_sentences

    dirs = tuple(args.source_dir or (DEFAULT_SOURCE_DIR,))
    if args.list:
        rows = []
        for source in SOURCES.values():
            found = source.find(dirs)
            rows.append({
                "name": source.name, "package": source.package, "licence": source.licence,
                "found": found.origin if found else None, "version": found.version if found else None,
            })
        if args.json:
            _emit_json({"sources": rows})
        else:
            for row in rows:
                where = f"{row['found']} {row['version']}" if row["found"] else "not found"
                print(f"{row['name']:<10} {where:<18} {row['package']}")
        return 0
    if args.heldout_every < 2:
        raise UsageError(f"--heldout-every must be at least 2, got {args.heldout_every}")
    exclude_files = args.exclude if args.exclude is not None else [p for p in DEFAULT_EXCLUDE if p.is_file()]
    for path in exclude_files:
        _input_file(path)
    try:
        exclude = evaluation_sentences(exclude_files)
    except (ValueError, OSError) as err:  # JSONDecodeError is a ValueError
        raise UsageError(f"--exclude: {err}") from None
    config = CorpusConfig(
        sources=tuple(args.sources) if args.sources else None, source_dirs=dirs,
        max_share=dict(args.max_share), repeat=dict(args.repeat), heldout_every=args.heldout_every,
        max_words=args.max_words, gzip=not args.no_gzip, exclude=exclude,
    )
    stats = build_corpus(args.out, config, log=lambda m: print(m, file=sys.stderr))
    if args.json:
        _emit_json(stats.to_dict())
    else:
        for s in stats.sources:
            share = s.train_words / max(stats.train_words, 1)
            print(f"{s.name:<10} {s.train_words:>10,} training words ({share:4.0%})"
                  f"  {s.heldout_lines:>5,} held-out lines")
        print(f"kept out {len(exclude):,} evaluation sentences "
              f"({', '.join(str(p) for p in exclude_files) or 'no --exclude file'})")
        print(f"{stats.train_lines:,} training lines ({stats.train_words:,} words), "
              f"{stats.heldout_lines:,} held out, written to {args.out} (see {args.out / 'SOURCES.md'})")
    return 0


def _add_pretrain_parser(subparsers) -> None:
    from mlm_explorer.pretrain import PretrainConfig, ScratchSize
    from mlm_explorer.training import PRECISIONS

    d, s = PretrainConfig(), ScratchSize()
    p = subparsers.add_parser("pretrain", help="masked-LM pretraining: warm start or from scratch")
    add = p.add_argument
    add("--corpus", type=Path, nargs="+", required=True, help="text files, one example a line (.txt or .gz)")
    add("--heldout", type=Path, nargs="*", default=[], help="held-out files (default: 2%% of the corpus)")
    add("--out", type=Path, required=True, help="output folder, e.g. models/my-encoder")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--init", type=Path, help="warm start from this BERT-style encoder folder")
    start.add_argument("--from-scratch", action="store_true", help="new WordPiece tokenizer and encoder")
    add("--vocab-size", type=_positive_int, default=s.vocab_size, help=f"from scratch ({s.vocab_size})")
    add("--layers", type=_positive_int, default=s.layers, help=f"from scratch (default {s.layers})")
    add("--hidden", type=_positive_int, default=s.hidden, help=f"from scratch (default {s.hidden})")
    add("--heads", type=_positive_int, default=s.heads, help=f"from scratch (default {s.heads})")
    add("--steps", type=_positive_int, default=None, help="step budget")
    add("--minutes", type=float, default=None, help="time budget in minutes (default 10 if no --steps)")
    add("--batch-size", type=_positive_int, default=d.batch_size, help=f"default {d.batch_size}")
    add("--seq-len", type=_positive_int, default=d.seq_len, help=f"packed length (default {d.seq_len})")
    add("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    add("--rate", type=_fraction("--rate"), default=0.15, help="masking rate (default 0.15)")
    add("--whole-word", action="store_true", help="whole-word masking")
    add("--mask-frequent-less", type=float, default=None, metavar="T",
        help="select frequent tokens less, weight min(1, sqrt(T / share)); 1e-3 affects about the "
             "70 commonest tokens (default: uniform, as BERT)")
    add("--eval-every", type=_positive_int, default=d.eval_every, help=f"default {d.eval_every} steps")
    add("--checkpoint-minutes", type=float, default=d.checkpoint_minutes, help="checkpoint interval")
    add("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    add("--precision", choices=PRECISIONS, default=d.mixed_precision,
        help="bf16 mixed precision; auto: on a GPU or a CPU with native bf16 (default auto)")
    add("--resume", action="store_true", help="continue from OUT/checkpoint")
    add("--json", action="store_true", help="print the summary as JSON")


def _run_pretrain(args: argparse.Namespace) -> int:
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from mlm_explorer.data import replace_problem
    from mlm_explorer.masking import PolicyConfig
    from mlm_explorer.pretrain import MAX_SEQ_LEN, MIN_SEQ_LEN, PretrainConfig, ScratchSize, run_pretraining
    from mlm_explorer.training import scratch_size_problem

    for path in [*args.corpus, *args.heldout]:
        _input_file(path)
    # Pretraining writes config.json, weights and a card into --out: only into a new or empty folder
    # or its own earlier output (a finished run's training.json, an interrupted run's checkpoint/).
    if problem := replace_problem(args.out, ("training.json", "checkpoint")):
        raise UsageError(f"--out: {problem}")
    if args.lr <= 0 or args.lr > 1:
        raise UsageError(f"--lr must be in (0, 1], got {args.lr}")
    if not 0.01 <= args.rate <= 1:  # fine-tuning's range: at 0 nothing is a target and nothing is learned
        raise UsageError(f"--rate must be between 0.01 and 1, got {args.rate}")
    _check_seed(args.seed)
    if args.init is not None and not (args.init / "config.json").is_file():
        # Checked before the progress bar starts; transformers would call a missing folder a bad repo id.
        raise UsageError(f"--init {args.init}: not a model folder (no config.json there); give a folder "
                         "written by save_pretrained, e.g. assets/model")
    if args.mask_frequent_less is not None and not 0 < args.mask_frequent_less <= 1:
        raise UsageError(f"--mask-frequent-less must be in (0, 1], got {args.mask_frequent_less}")
    minutes = args.minutes if args.minutes is not None else (None if args.steps else 10.0)
    # `not 0 < x < inf`: nan passes `x <= 0`, and `--minutes nan` ran with no time budget at all
    if minutes is not None and not 0 < minutes < math.inf:
        raise UsageError(f"--minutes must be a positive number, got {minutes}")
    if not 0 < args.checkpoint_minutes < math.inf:
        raise UsageError(f"--checkpoint-minutes must be a positive number, got {args.checkpoint_minutes}")
    if not MIN_SEQ_LEN <= args.seq_len <= MAX_SEQ_LEN:
        # BERT-style position embeddings stop at 512: --seq-len 100000 failed in the model's forward
        raise UsageError(f"--seq-len must be from {MIN_SEQ_LEN} to {MAX_SEQ_LEN}, got {args.seq_len}")
    scratch = ScratchSize(args.vocab_size, args.layers, args.hidden, args.heads, 4 * args.hidden)
    if args.from_scratch and (problem := scratch_size_problem(scratch)):
        raise UsageError(f"--from-scratch: {problem}")
    config = PretrainConfig(
        seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr, max_steps=args.steps, minutes=minutes,
        eval_every=args.eval_every, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
        policy=PolicyConfig(rate=args.rate, whole_word=args.whole_word), mixed_precision=args.precision,
        frequent_threshold=args.mask_frequent_less,
    )
    main_process = PartialState().is_main_process
    with tqdm(total=1000, desc="pretraining", unit="‰", file=sys.stderr, disable=not main_process) as bar:

        def on_step(step: int, loss: float, progress: float) -> None:
            bar.n = min(1000, int(progress * 1000))
            bar.set_postfix(step=step, loss=f"{loss:.3f}", refresh=False)
            bar.refresh()

        result = run_pretraining(
            args.corpus, args.out, config, init_dir=args.init, scratch=None if args.init else scratch,
            heldout=args.heldout, resume=args.resume, on_step=on_step,
            log=lambda m: print(m, file=sys.stderr) if main_process else None,
        )
    if not main_process:
        return 0
    best = result.best
    summary = {
        "model": None if args.init is None else str(args.init),  # the warm start; null from scratch
        "from_scratch": args.init is None,
        "out": str(result.out_dir), "steps": result.steps, "stopped": result.stopped,
        "minutes": round(result.seconds / 60, 2), "tokens_seen": result.tokens_seen,
        "heldout_accuracy": best.accuracy if best else None,
        "heldout_loss": best.loss if best else None,
        "best_step": best.step if best else None,
    }
    if args.json:
        _emit_json(summary)
        return 0
    print(f"{result.steps} steps ({result.stopped}) in {summary['minutes']} min, "
          f"{result.tokens_seen:,} tokens seen")
    if best is not None:
        print(f"best held-out: accuracy {best.accuracy:.3f}, loss {best.loss:.3f} at step {best.step}")
    print(f"saved to {result.out_dir}")
    return 0


# ---------------------------------------------------------------------------- app


def _add_app_parser(subparsers) -> None:
    p = subparsers.add_parser("app", help="start the web app (what a Hugging Face Space runs)")
    p.add_argument("--host", default=None, help="address (default: $GRADIO_SERVER_NAME, else local)")
    p.add_argument("--port", type=_port, default=None, help="port (default: $GRADIO_SERVER_PORT, else 7860)")


def _run_app(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported
    from mlm_explorer.ui.launch import serve

    overrides = {}
    if args.host is not None:
        overrides["server_name"] = args.host
    if args.port is not None:
        overrides["server_port"] = args.port
    serve(**overrides)
    return 0


# ---------------------------------------------------------------------------- class activities


def _add_generate_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="watch the model write: fill a row of blanks step by step")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--length", type=_positive_int, help="start from this many blanks")
    start.add_argument("--text", help='start from a text with blanks, e.g. "The [MASK] sat on the [MASK]."')
    p.add_argument("--strategy", choices=["iterative", "gibbs", "left-to-right", "mask-predict"],
                   default="iterative",
                   help="most confident blank first, Gibbs resampling, leftmost first, or mask-predict "
                        "(all blanks at once, then re-mask the least sure; default iterative)")
    p.add_argument("--sweeps", type=_positive_int, default=None,
                   help="Gibbs sweeps or mask-predict rounds (default 3)")
    p.add_argument("--temperature", type=float, default=1.0, help="Gibbs sampling temperature (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="Gibbs: sample from the k best tokens (0 = all)")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same trace (default 0)")
    _add_common(p)


def _check_seed(seed: int) -> None:
    """One seed range for every command (masking.MAX_SEED), said as a usage error."""
    from mlm_explorer.masking import check_seed

    try:
        check_seed(seed)
    except ValueError as err:
        raise UsageError(f"--seed: {err}") from None


def _run_generate(args: argparse.Namespace) -> int:
    from mlm_explorer.generate import generate

    _check_seed(args.seed)
    if args.strategy not in ("gibbs", "mask-predict") and args.sweeps is not None:
        raise UsageError(f"--sweeps is for --strategy gibbs or mask-predict; {args.strategy} fills each "
                         "blank once.")
    if args.strategy != "gibbs" and (args.temperature != 1.0 or args.top_k != 0):
        # The other strategies take each blank's top token: a sampling setting would be ignored silently.
        raise UsageError(f"--temperature and --top-k are for --strategy gibbs; {args.strategy} takes each "
                         "blank's most likely token.")
    lm = _load(args)
    trace = generate(
        lm, args.length if args.length is not None else args.text, args.strategy, steps=args.sweeps,
        temperature=args.temperature, top_k=args.top_k, seed=args.seed,
    )
    _note(trace.message)
    if args.json:
        _emit_json(trace.to_dict())
        return 0
    print(f"start: {trace.start_text}")
    for step in trace.steps:
        where = f"sweep {step.sweep} step {step.step:>3}: position {step.position:>2}"
        print(f"{where} -> {step.token:<14} {step.text}")
    for n, pll in enumerate(trace.pll_per_sweep, start=1):
        print(f"PLL after sweep {n}: {pll:.3f}")
    print(trace.text)
    return 0


def _add_compare_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="side by side: two sentences through one model, or one sentence through two models"
    )
    p.add_argument("text", help="a sentence with one [MASK]")
    p.add_argument("text_b", nargs="?", default=None, help="a second sentence with one [MASK] (same model)")
    p.add_argument("--with", dest="model_b", default=None, help="a second model for the same sentence")
    _add_top_k(p, "words per side")
    _add_common(p)


def _run_compare(args: argparse.Namespace) -> int:
    from mlm_explorer.compare import agreement_line, compare_models, compare_sentences
    from mlm_explorer.models import load_model

    if (args.text_b is None) == (args.model_b is None):
        raise UsageError("give a second sentence (two sentences, one model) or --with MODEL (two models).")
    lm = _load(args)
    if args.model_b is not None:
        result = compare_models(lm, load_model(args.model_b), args.text, args.top_k)
    else:
        result = compare_sentences(lm, args.text, args.text_b, args.top_k)
    _note(result.message)
    if args.json:
        _emit_json({**result.to_dict(), "summary": agreement_line(result)})
        return 0
    print(f"A: {result.label_a}\nB: {result.label_b}")
    print(f"{'word':<16} {'p(A)':>8} {'p(B)':>8} {'A/B':>8}")
    for w in result.words:
        ratio = "-" if w.ratio is None else f"{w.ratio:.2f}"
        print(f"{w.word:<16} {_fmt_prob(w.prob_a):>8} {_fmt_prob(w.prob_b):>8} {ratio:>8}")
    print(agreement_line(result))
    return 0


def _add_quiz_parser(subparsers) -> None:
    p = subparsers.add_parser("quiz", help="let the model play the guess-first quiz: hits@1 and hits@5")
    p.add_argument("file", type=Path, nargs="?", default=None,
                   help="one sentence a line, the hidden word in [brackets] (default: the bundled set)")
    _add_top_k(p, "model guesses shown per item")
    _add_common(p)


def _run_quiz(args: argparse.Namespace) -> int:
    from mlm_explorer.quiz import MAX_LINES, load_bundled_items, parse_items, score_item

    if args.file is None:
        items, problems = load_bundled_items(), ()
    else:
        _input_file(args.file)
        try:
            with args.file.open(encoding="utf-8") as f:
                head = "".join(line for _, line in zip(range(MAX_LINES + 1), f, strict=False))
        except UnicodeDecodeError:
            raise UsageError(f"cannot read {args.file}: it is not UTF-8 text.") from None
        parsed = parse_items(head)
        _note(parsed.message)
        items, problems = parsed.items, parsed.problems
    for problem in problems:
        _note(problem)
    lm = _load(args)
    reveals = [score_item(lm, item, (), top_k=args.top_k) for item in items]
    hits1 = sum(r.model_hit1 for r in reveals)
    hits5 = sum(r.model_hit5 for r in reveals)
    if args.json:
        # No student plays here: the reveal's guesses and student hits would be empty noise, and the
        # model is named once at the top, not in every item.
        student = ("model", "guesses", "student_hit1", "student_hit5")
        items = [{k: v for k, v in r.to_dict().items() if k not in student} for r in reveals]
        _emit_json({"model": lm.name, **_shares(len(reveals), hits1, hits5), "items": items})
        return 0
    for r in reveals:
        guesses = ", ".join(c.token for c in r.top_k)
        print(f"{'hit ' if r.model_hit1 else 'miss'} {r.item.blanked}  answer {r.item.answer} "
              f"(p={r.answer.prob:.4f}, rank {r.answer.rank})  model: {guesses}")
    print(f"{len(reveals)} items   hits@1 {hits1}   hits@5 {hits5}   model {lm.name}")
    return 0


# ---------------------------------------------------------------------------- inside a prediction


def _add_layers_parser(subparsers) -> None:
    p = subparsers.add_parser("layers", help="the MLM head's guess after every layer (logit lens)")
    p.add_argument("text", help="text with [MASK] or <mask>, or any text with --position")
    p.add_argument("--position", type=int, default=None, help="token position to look at (masked if needed)")
    _add_top_k(p, "tokens per layer")
    _add_common(p)


def _run_layers(args: argparse.Namespace) -> int:
    from mlm_explorer.lens import layer_by_layer

    lens = layer_by_layer(_load(args), args.text, position=args.position, top_k=args.top_k)
    _note(lens.message)
    if args.json:
        _emit_json(lens.to_dict())
        return 0
    original = f", original {lens.original}" if lens.original is not None else ""
    print(f"position {lens.position}: final answer {lens.final.token}{original}; layer 0 = embeddings")
    for r in lens.layers:
        top = ", ".join(f"{c.token} {c.prob:.3f}" for c in r.top_k)
        rank = f"  original rank {r.original_rank}" if r.original_rank is not None else ""
        print(f"layer {r.layer:>2}  final rank {r.final_rank:<6}{rank}  | {top}")
    return 0


def _add_saliency_parser(subparsers) -> None:
    from mlm_explorer.saliency import BASELINES, DEFAULT_STEPS

    p = subparsers.add_parser("saliency", help="which input tokens drove a prediction (grad x input, IG)")
    p.add_argument("text", help="text with [MASK] or <mask>, or any text with --position")
    p.add_argument("--position", type=int, default=None, help="token position to explain (masked if needed)")
    p.add_argument("--target", default=None, help="candidate token to explain (default: the top-1)")
    p.add_argument("--steps", type=_positive_int, default=DEFAULT_STEPS,
                   help=f"Integrated-Gradients steps (default {DEFAULT_STEPS})")
    p.add_argument("--baseline", choices=BASELINES, default="mask",
                   help="what replaces every non-special token in the IG baseline (default mask)")
    _add_common(p)


def _run_saliency(args: argparse.Namespace) -> int:
    from mlm_explorer.saliency import saliency
    from mlm_explorer.tokens import check_text

    check_text(args.text)
    result = saliency(
        _load(args), args.text, position=args.position, target=args.target, steps=args.steps,
        baseline=args.baseline,
    )
    _note(result.message)
    if args.json:
        _emit_json(result.to_dict())
        return 0
    print(f"log p({result.target}) at position {result.position} = {result.target_log_prob:.4f}; "
          f"all-[{result.baseline}] baseline {result.baseline_log_prob:.4f}")
    print(f"{'token':<20} {'grad x input':>13} {'integrated gr.':>15}")
    for tok, g, ig in zip(result.tokens, result.grad_x_input, result.integrated_gradients, strict=True):
        print(f"{tok:<20} {g:13.4f} {ig:15.4f}")
    print(f"completeness gap {result.completeness_gap:+.5f} nats ({result.relative_gap:.2%} of the change)")
    return 0


def _add_attention_diff_parser(subparsers) -> None:
    p = subparsers.add_parser("attention-diff", help="attention with vs without one word masked")
    p.add_argument("text", help="the sentence as written")
    p.add_argument("--position", type=int, required=True, help="token position of the word to hide")
    p.add_argument("--pieces-only", action="store_true", help="hide only that token, not its whole word")
    _add_common(p)


def _run_attention_diff(args: argparse.Namespace) -> int:
    from mlm_explorer.attention_change import attention_change

    change = attention_change(_load(args), args.text, [args.position], whole_word=not args.pieces_only)
    _note(change.message)
    if args.json:
        _emit_json(change.to_dict())
        return 0
    grid = change.head_change
    hidden = " ".join(change.tokens[p] for p in change.positions)
    print(f"hid {hidden!r} (positions {list(change.positions)}); total |unmasked - masked| per head:")
    print("layer " + " ".join(f"h{h:<5}" for h in range(grid.shape[1])))
    for layer, row in enumerate(grid):
        print(f"{layer:>5} " + " ".join(f"{v:6.3f}" for v in row))
    return 0


def _add_tokenize_parser(subparsers) -> None:
    p = subparsers.add_parser("tokenize", help="every token with id, characters, word and marks")
    p.add_argument("text")
    p.add_argument("--compare", default=None, help="another model (folder or hub id) to split the text too")
    _add_common(p)


def _print_tokens(view) -> None:
    print(f"{view.model}: {view.algorithm}, {view.vocab_size:,} tokens; {view.convention}")
    for t in view.tokens:
        marks = ("special" if t.special else "") + ("continues" if t.continues_word else "")
        print(f"{t.position:>4} {t.id:>7} {t.token:<16} {t.piece!r:<16} {t.start:>4}-{t.end:<4} "
              f"{'' if t.word is None else t.word:>4} {marks}")


def _run_tokenize(args: argparse.Namespace) -> int:
    from mlm_explorer.models import load_model
    from mlm_explorer.tokenizer_view import tokenizer_view
    from mlm_explorer.tokens import check_text

    check_text(args.text)
    view = tokenizer_view(_load(args), args.text)
    # `is not None`: an empty --compare is a mistake to report (load_model says so), not "no comparison"
    other = tokenizer_view(load_model(args.compare), args.text) if args.compare is not None else None
    _note(view.message)
    if args.json:
        _emit_json({**view.to_dict(), "compare": other.to_dict() if other else None})
        return 0
    _print_tokens(view)
    if other is not None:
        print()
        _print_tokens(other)
    return 0


# ---------------------------------------------------------------------------- main

#: name → (add the subparser, run it). One line per command.
COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    "predict": (_add_predict_parser, _run_predict),
    "mask": (_add_mask_parser, _run_mask),
    "score": (_add_score_parser, _run_score),
    "attention": (_add_attention_parser, _run_attention),
    "eval-cloze": (_add_eval_cloze_parser, _run_eval_cloze),
    "eval-pairs": (_add_eval_pairs_parser, _run_eval_pairs),
    "finetune": (_add_finetune_parser, _run_finetune),
    "corpus": (_add_corpus_parser, _run_corpus),
    "pretrain": (_add_pretrain_parser, _run_pretrain),
    "generate": (_add_generate_parser, _run_generate),
    "compare": (_add_compare_parser, _run_compare),
    "quiz": (_add_quiz_parser, _run_quiz),
    "app": (_add_app_parser, _run_app),
    "layers": (_add_layers_parser, _run_layers),
    "saliency": (_add_saliency_parser, _run_saliency),
    "attention-diff": (_add_attention_diff_parser, _run_attention_diff),
    "tokenize": (_add_tokenize_parser, _run_tokenize),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlm-explorer",
        description="See how a masked language model fills in blanks.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


def _quiet_libraries() -> None:
    """No progress bars or advisory warnings from transformers on the terminal."""
    import os

    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers is a hard requirement
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input)."""
    from mlm_explorer.models import ModelLoadError

    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exit_:  # --help / --version
        return int(exit_.code or 0)
    _quiet_libraries()
    try:
        return COMMANDS[args.command][1](args)
    except (UsageError, ModelLoadError, ValueError, OSError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
