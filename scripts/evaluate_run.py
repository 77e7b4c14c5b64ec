"""Score a pretrained model against a baseline: public cloze, minimal pairs, held-out accuracy per source.

Usage (after ``python -m mlm_explorer pretrain ... --out runs/bundled-v2``)::

    python scripts/evaluate_run.py --model runs/bundled-v2 --baseline assets/model --corpus corpus

Writes ``<model>/evaluation.json`` (both models, every figure), adds
``heldout_by_source`` and ``evaluation`` to ``<model>/training.json``, and prints
a Markdown table plus one verdict line: whether the new model beats the
baseline on both the public cloze set (top-5, then top-1 on a tie) and the
minimal pairs, and gets the app's showcase right (``mlm_explorer.showcase``:
the Fill tab's first example and the Score tab's pairs, which CI guards).
Only a model that does should replace ``assets/model``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # as bench/ does: run from a checkout, nothing installed

from mlm_explorer.cloze import (  # noqa: E402
    evaluate_cloze,
    evaluate_pairs,
    masked_token_accuracy,
    read_cloze_file,
    read_pairs_file,
)
from mlm_explorer.models import load_model  # noqa: E402
from mlm_explorer.showcase import check_showcase  # noqa: E402


def score(model: str, corpus: Path, cloze: Path, pairs: Path, max_lines: int | None) -> dict:
    """Every figure for one model folder."""
    started = time.perf_counter()
    lm = load_model(model)
    cloze_result = evaluate_cloze(lm, read_cloze_file(cloze))
    pairs_result = evaluate_pairs(lm, read_pairs_file(pairs))
    by_source, words_by_source = {}, {}
    for path in sorted((corpus / "heldout").glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()[:max_lines]
        if lines:
            by_source[path.stem] = masked_token_accuracy(lm, lines).to_dict()
            # Whole words hidden, as in a cloze: no piece of the word gives it away. This one
            # compares runs trained with and without whole-word masking on equal terms.
            words_by_source[path.stem] = masked_token_accuracy(lm, lines, whole_word=True).to_dict()
    return {
        "model": model,
        "cloze_top1": cloze_result.top1,
        "cloze_top5": cloze_result.top5,
        "pairs_accuracy": pairs_result.accuracy,
        "pairs_by_phenomenon": {p.phenomenon: p.accuracy for p in pairs_result.by_phenomenon},
        "heldout_by_source": by_source,
        "heldout_words_by_source": words_by_source,
        "cloze_misses": [
            {"text": o.text, "top_k": list(o.words)} for o in cloze_result.outcomes if o.rank != 1
        ],
        "pairs_wrong": [o.pair.grammatical for o in pairs_result.outcomes if not o.correct],
        "showcase": check_showcase(lm).to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def beats(new: dict, old: dict) -> bool:
    """Better on the cloze set (top-5, then top-1 on a tie), at least as good on the pairs, showcase right."""
    cloze_better = (new["cloze_top5"], new["cloze_top1"]) > (old["cloze_top5"], old["cloze_top1"])
    return cloze_better and new["pairs_accuracy"] >= old["pairs_accuracy"] and new["showcase"]["passed"]


def showcase_cell(figures: dict) -> str:
    """'right', or what went wrong: the Fill answer when it is not paris, the Score gaps (nats)."""
    showcase = figures.get("showcase")
    if showcase is None:
        return "–"
    gaps = ", ".join(f"{p['gap']:+.2f}" for p in showcase["pairs"])
    verdict = "right" if showcase["passed"] else "wrong"
    return f"{verdict} (Fill: {showcase['fill_top1']}; Score gaps {gaps})"


def table(new: dict, old: dict) -> str:
    rows = [
        "| measure | baseline | new |",
        "|---|---|---|",
        f"| public cloze top-1 | {old['cloze_top1']:.2f} | {new['cloze_top1']:.2f} |",
        f"| public cloze top-5 | {old['cloze_top5']:.2f} | {new['cloze_top5']:.2f} |",
        f"| minimal pairs | {old['pairs_accuracy']:.3f} | {new['pairs_accuracy']:.3f} |",
        f"| the app's showcase | {showcase_cell(old)} | {showcase_cell(new)} |",
    ]
    for name, figures in new["heldout_by_source"].items():
        before = old["heldout_by_source"].get(name, {}).get("accuracy", float("nan"))
        rows.append(f"| held-out masked accuracy, {name} | {before:.3f} | {figures['accuracy']:.3f} |")
    for name, figures in new.get("heldout_words_by_source", {}).items():
        before = old.get("heldout_words_by_source", {}).get(name, {}).get("accuracy", float("nan"))
        rows.append(f"| held-out whole-word accuracy, {name} | {before:.3f} | {figures['accuracy']:.3f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="the new model folder")
    parser.add_argument("--baseline", default=str(ROOT / "assets" / "model"), help="default assets/model")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="has heldout/<source>.txt")
    parser.add_argument("--cloze", type=Path, default=ROOT / "tests" / "data" / "cloze_public.jsonl")
    parser.add_argument("--pairs", type=Path, default=ROOT / "tests" / "data" / "minimal_pairs.tsv")
    parser.add_argument("--max-lines", type=int, default=None, help="held-out lines per source (default all)")
    args = parser.parse_args(argv)
    if not (args.corpus / "heldout").is_dir():
        print(f"error: {args.corpus}/heldout not found: build the corpus first", file=sys.stderr)
        return 2
    new = score(str(args.model), args.corpus, args.cloze, args.pairs, args.max_lines)
    old = score(args.baseline, args.corpus, args.cloze, args.pairs, args.max_lines)
    verdict = beats(new, old)
    report = {"new": new, "baseline": old, "beats_baseline": verdict}
    (args.model / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    training = args.model / "training.json"
    if training.exists():
        info = json.loads(training.read_text(encoding="utf-8"))
        info["heldout_by_source"] = new["heldout_by_source"]
        info["heldout_words_by_source"] = new["heldout_words_by_source"]
        info["evaluation"] = {
            key: new[key] for key in ("cloze_top1", "cloze_top5", "pairs_accuracy", "pairs_by_phenomenon")
        } | {"commands": [
            "python -m mlm_explorer eval-cloze tests/data/cloze_public.jsonl",
            "python -m mlm_explorer eval-pairs tests/data/minimal_pairs.tsv",
            "python scripts/evaluate_run.py (held-out masked-token and whole-word accuracy per source,"
            " seed 1234)",
        ]}
        training.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    print(table(new, old))
    print(f"beats the baseline on eval-cloze and eval-pairs, showcase right: {'yes' if verdict else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
