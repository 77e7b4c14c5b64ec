"""Pick the best of several runs side by side (``SWEEP`` in scripts/train_bundled.sh).

Usage::

    python scripts/pick_run.py runs/bundled-v3 1e-4 2e-4 2e-4w

Each ``<folder>/<name>/evaluation.json`` was written by ``scripts/evaluate_run.py``. The winner
has the best mean held-out whole-word accuracy over the corpus sources (whole words hidden, as in
a cloze; token-level accuracy favours runs trained without whole-word masking, which learn to
finish a word from its other pieces). Those slices are the runs' own validation data, so the
public cloze and minimal-pair sets stay a measurement rather than a target.
One thing comes first: whether a run could be shipped at all, that is gets the
app's showcase right (the Fill tab's first example, the Score tab's pairs) and
reaches the bars CI guards (public cloze, minimal pairs: ``SHIP_BARS``, both in
``mlm_explorer.showcase``). A run that could not wins only when none could.

Writes ``<folder>/sweep.md`` and ``<folder>/sweep.json``, prints the winner's name, and exits 1
when no run has figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as evaluate_run.py: run from a checkout

from mlm_explorer.showcase import SHIP_BARS  # noqa: E402


@dataclass(frozen=True)
class RunFigures:
    name: str
    heldout_mean: float
    cloze_top1: float
    cloze_top5: float
    pairs_accuracy: float
    best_step: int | None
    steps: int | None
    showcase: bool | None = None  # gets the app's showcase right (None: an evaluation without the check)

    @property
    def shippable(self) -> bool:
        """Showcase right (or not checked, in older evaluations) and CI's bars reached."""
        bars = SHIP_BARS.met(self.cloze_top1, self.cloze_top5, self.pairs_accuracy)
        return self.showcase is not False and bars


def mean_heldout(by_source: dict[str, dict]) -> float:
    """Macro mean: every source counts the same, so the largest slice cannot decide alone."""
    return sum(s["accuracy"] for s in by_source.values()) / len(by_source)


def heldout_key(figures: dict) -> str:
    """The whole-word figures where the evaluation has them (older evaluations do not)."""
    return "heldout_words_by_source" if figures.get("heldout_words_by_source") else "heldout_by_source"


def showcase_passed(figures: dict) -> bool | None:
    showcase = figures.get("showcase")
    return None if showcase is None else bool(showcase["passed"])


def read_run(folder: Path, name: str) -> RunFigures | None:
    evaluation = folder / name / "evaluation.json"
    if not evaluation.is_file():
        return None
    new = json.loads(evaluation.read_text(encoding="utf-8"))["new"]
    summary_file = folder / name / "pretrain_summary.json"
    lines = summary_file.read_text(encoding="utf-8").split("\n") if summary_file.is_file() else []
    # The summary is pretrain's last line of output (older versions printed progress lines before it).
    summary = json.loads(next((line for line in reversed(lines) if line.strip()), "{}"))
    return RunFigures(
        name=name, heldout_mean=mean_heldout(new[heldout_key(new)]), cloze_top1=new["cloze_top1"],
        cloze_top5=new["cloze_top5"], pairs_accuracy=new["pairs_accuracy"],
        best_step=summary.get("best_step"), steps=summary.get("steps"), showcase=showcase_passed(new),
    )


def baseline_figures(folder: Path, name: str) -> RunFigures:
    old = json.loads((folder / name / "evaluation.json").read_text(encoding="utf-8"))["baseline"]
    return RunFigures("baseline", mean_heldout(old[heldout_key(old)]), old["cloze_top1"],
                      old["cloze_top5"], old["pairs_accuracy"], None, None, showcase_passed(old))


def report(runs: list[RunFigures], winner: RunFigures, baseline: RunFigures, missing: list[str]) -> str:
    rows = [
        "| run | mean held-out whole-word accuracy | cloze top-1 | cloze top-5 | minimal pairs "
        "| showcase | could ship | steps (best at) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in [baseline, *runs]:
        mark = " (winner)" if r is winner else ""
        steps = f"{r.steps} ({r.best_step})" if r.steps is not None else "–"
        showcase = {True: "right", False: "wrong", None: "–"}[r.showcase]
        rows.append(f"| {r.name}{mark} | {r.heldout_mean:.3f} | {r.cloze_top1:.2f} | {r.cloze_top5:.2f} "
                    f"| {r.pairs_accuracy:.3f} | {showcase} | {'yes' if r.shippable else 'no'} | {steps} |")
    rows += [f"| {name} | failed: see {name}.log | | | | | | |" for name in missing]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the sweep's OUT folder")
    parser.add_argument("names", nargs="+", help="the runs (SWEEP words)")
    args = parser.parse_args(argv)
    found = {name: read_run(args.folder, name) for name in args.names}
    runs = [r for r in found.values() if r is not None]
    missing = [name for name, r in found.items() if r is None]
    if not runs:
        print(f"error: no run in {args.folder} has an evaluation.json", file=sys.stderr)
        return 1
    winner = max(runs, key=lambda r: (r.shippable, r.heldout_mean))
    baseline = baseline_figures(args.folder, winner.name)
    (args.folder / "sweep.md").write_text(report(runs, winner, baseline, missing), encoding="utf-8")
    (args.folder / "sweep.json").write_text(json.dumps({
        "winner": winner.name,
        "rule": "shippable first (showcase right, CI's bars reached), then the best mean held-out"
                " whole-word accuracy over the sources",
        "runs": [asdict(r) for r in runs], "baseline": asdict(baseline), "failed": missing,
    }, indent=2) + "\n", encoding="utf-8")
    print(winner.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
