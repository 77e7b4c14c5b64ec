"""Run the library's views on a GPU and on the CPU with the same model and inputs; the numbers must agree.

    python scripts/check_device_parity.py [MODEL] [--device cuda] [--only predict saliency ...]

A Space or a workstation with a GPU serves every view from the GPU (``models.default_device``), while
CI and the tests run on CPUs only. This is the check to run once on such a machine: each view's
figures on both devices, compared within float32 noise (matrix products on a GPU sum in another
order). Prints one line per check and exits 1 when any differs or raises. Without a GPU it
compares the CPU with itself, which only shows that the script runs.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlm_explorer.compare import compare_sentences  # noqa: E402
from mlm_explorer.finetune import FinetuneConfig, finetune  # noqa: E402
from mlm_explorer.generate import generate  # noqa: E402
from mlm_explorer.lens import layer_by_layer  # noqa: E402
from mlm_explorer.models import LoadedModel, load_model  # noqa: E402
from mlm_explorer.predict import iterative_fill, predict, pseudo_log_likelihood  # noqa: E402

BLANK = "The capital of France is [MASK]."
# ~25 tokens × 128 steps: Integrated Gradients then takes two batched passes (2,048 tokens each).
LONG_BLANK = (
    "When the old ship finally reached the harbour after many weeks at sea, "
    "the tired sailors [MASK] with joy."
)


@dataclass
class Report:
    """The outcome of every check, printed as it goes."""

    device: str
    failed: list[str] = field(default_factory=list)

    def close(self, name: str, a: Sequence[float], b: Sequence[float], tol: float) -> None:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        diff = float(np.max(np.abs(x - y))) if x.size and x.shape == y.shape else float("inf")
        self._line(name, diff <= tol, f"max |cpu - {self.device}| = {diff:.2e} (tolerance {tol})")

    def equal(self, name: str, a: object, b: object) -> None:
        self._line(name, a == b, repr(a) if a == b else f"cpu {a!r}, {self.device} {b!r}")

    def _line(self, name: str, ok: bool, detail: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if not ok:
            self.failed.append(name)


def check_predict(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    a, b = (predict(m, BLANK, top_k=10, with_attentions=True) for m in (cpu, dev))
    r.equal("predict: top-10 tokens", [c.token for c in a.predictions[0].top_k],
            [c.token for c in b.predictions[0].top_k])
    r.close("predict: top-10 probabilities", [c.prob for c in a.predictions[0].top_k],
            [c.prob for c in b.predictions[0].top_k], 1e-4)
    r.close("predict: entropy", [a.predictions[0].entropy], [b.predictions[0].entropy], 1e-3)
    assert a.attention is not None and b.attention is not None
    r.close("attention maps", a.attention.array.ravel(), b.attention.array.ravel(), 2e-3)
    text = "The keys to the cabinet are here."
    a, b = (predict(m, text, positions=[3, 6]) for m in (cpu, dev))
    r.close("predict by position: the original's probability", [p.original_prob for p in a.predictions],
            [p.original_prob for p in b.predictions], 1e-4)
    r.equal("predict by position: the original's rank", [p.original_rank for p in a.predictions],
            [p.original_rank for p in b.predictions])
    a, b = (iterative_fill(m, "Paris is the [MASK] of [MASK].") for m in (cpu, dev))
    r.equal("iterative fill", a.filled_text, b.filled_text)


def check_score(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    for text in ("The author that the guards like laughs.", "She has lived here since 2010."):
        a, b = (pseudo_log_likelihood(m, text) for m in (cpu, dev))
        r.close(f"PLL and per-token log-probabilities of {text!r}",
                [a.pll, *(x or 0.0 for x in a.token_log_probs)],
                [b.pll, *(x or 0.0 for x in b.token_log_probs)], 1e-3)
    pair = ("The man worked as a [MASK].", "The woman worked as a [MASK].")
    a, b = (compare_sentences(m, *pair) for m in (cpu, dev))
    r.equal("compare sentences: words", [w.word for w in a.words], [w.word for w in b.words])
    r.close("compare sentences: probabilities", [p or 0.0 for w in a.words for p in (w.prob_a, w.prob_b)],
            [p or 0.0 for w in b.words for p in (w.prob_a, w.prob_b)], 1e-4)


def check_lens(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    a, b = (layer_by_layer(m, "The capital of France is Paris.", position=6) for m in (cpu, dev))
    r.equal("layer by layer: rank of the final guess", [x.final_rank for x in a.layers],
            [x.final_rank for x in b.layers])
    r.close("layer by layer: the original's probability", [x.original_prob or 0.0 for x in a.layers],
            [x.original_prob or 0.0 for x in b.layers], 1e-4)


def check_saliency(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    from mlm_explorer.saliency import saliency  # needs captum; a missing package is a failed check

    for text, steps in ((BLANK, 32), (LONG_BLANK, 128)):
        a, b = (saliency(m, text, steps=steps) for m in (cpu, dev))
        r.equal(f"saliency ({steps} steps, {a.passes} passes): target", a.target, b.target)
        r.close(f"saliency ({steps} steps): gradient × input", a.grad_x_input, b.grad_x_input, 2e-3)
        r.close(f"saliency ({steps} steps): integrated gradients", a.integrated_gradients,
                b.integrated_gradients, 5e-3)
        r.close(f"saliency ({steps} steps): completeness gap", [a.completeness_gap],
                [b.completeness_gap], 2e-3)


def check_generate(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    for strategy in ("iterative", "left-to-right", "mask-predict"):  # the deterministic ones
        a, b = (generate(m, 8, strategy=strategy) for m in (cpu, dev))
        r.equal(f"generate {strategy}: text", a.text, b.text)
        r.close(f"generate {strategy}: PLL", a.pll_per_sweep, b.pll_per_sweep, 1e-2)
    # Sampling draws from a torch.Generator on the CPU, so the same seed gives the same text where
    # the probabilities agree; a near-tie could still differ, so only the run itself is checked.
    gibbs = generate(dev, 8, "gibbs", steps=3, seed=1)
    r.equal("generate gibbs on the device: sweeps run", len(gibbs.pll_per_sweep), 3)


def check_finetune(cpu: LoadedModel, dev: LoadedModel, r: Report) -> None:
    text = ["The cat sat on the mat.", "A dog ran in the park.", "The bird sang in the tree.",
            "Snow fell on the town."] * 20
    before = [c.token for c in predict(dev, BLANK, top_k=3).predictions[0].top_k]
    result = finetune(dev, text, FinetuneConfig(steps=30, seed=0))
    print(f"     fine-tune on {next(result.model.parameters()).device}: loss {result.losses[0]:.3f} -> "
          f"{result.losses[-1]:.3f}, held-out loss {result.before.loss:.3f} -> {result.after.loss:.3f}, "
          f"{result.tokens_per_second:.0f} tokens/s")
    r.equal("fine-tune: steps done", result.steps, 30)
    r.equal("fine-tune: held-out loss fell", result.after.loss < result.before.loss, True)
    r.equal("fine-tune: the starting model is untouched",
            [c.token for c in predict(dev, BLANK, top_k=3).predictions[0].top_k], before)


CHECKS: dict[str, Callable[[LoadedModel, LoadedModel, Report], None]] = {
    "predict": check_predict, "score": check_score, "lens": check_lens, "saliency": check_saliency,
    "generate": check_generate, "finetune": check_finetune,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None,
                        help="folder or hub id (default: the bundled model)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), default=list(CHECKS))
    args = parser.parse_args(argv)
    on_gpu = args.device.startswith("cuda") and torch.cuda.is_available()
    name = torch.cuda.get_device_name(torch.device(args.device)) if on_gpu else ""
    print(f"comparing cpu with {args.device} {name}".rstrip(), flush=True)
    cpu, dev = load_model(args.model, device="cpu"), load_model(args.model, device=args.device)
    report = Report(args.device)
    for check in args.only:
        started = time.perf_counter()
        try:
            CHECKS[check](cpu, dev, report)
        except Exception:  # one broken view must not hide the others' results
            report.failed.append(check)
            print(f"FAIL {check} raised:\n{traceback.format_exc(limit=4)}", flush=True)
        print(f"     ({check}: {time.perf_counter() - started:.1f} s)", flush=True)
    print("parity: ok" if not report.failed else "parity: FAILED: " + ", ".join(report.failed))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
