"""A class's burst of sentence scores in the library, the shipped settings against a baseline.

Thirty threads (thirty students) each score their own pair of sentences
(``predict.pseudo_log_likelihoods``) at once through the inference worker, with
torch set as a server sets it (:func:`serving.configure_threads`: the cores less
one). Runs alternate between the shipped settings and a baseline, in one
process, so a busy machine slows both alike; prints the median seconds of each
and their ratio. ``--compare`` picks the baseline:

- ``cores``: every pass on the cores less one (shipped: passes of
  ``predict.WIDE_PASS_TOKENS`` padded tokens or more run on every core; on one
  core both are the same);
- ``last-layer``: the encoder's last layer at every position (shipped: after
  its self-attention, at the read-out positions only, ``predict.NARROW_LAST_LAYER``).

``--one-thread`` runs every pass of both on the cores less one (for
``last-layer``: the arithmetic alone, without OpenMP waiting for a busy core).

    python bench/bench_score_burst.py [--model DIR_OR_ID] [--repeat 4] [--compare cores|last-layer]
                                      [--one-thread]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom import ADJECTIVES  # noqa: E402  (the same thirty students as the app burst)
from common import resolve_model  # noqa: E402

# Baselines: the predict setting changed, its value, and how the two runs are labelled.
BASELINES = {
    "cores": ("WIDE_PASS_TOKENS", 10**12, "large passes on every core", "every pass on the cores less one"),
    "last-layer": ("NARROW_LAST_LAYER", False, "last layer at the read-outs", "last layer at every position"),
}


def burst(lm, pairs: list[list[str]]) -> float:
    """Seconds until the last of ``pairs`` is scored, every pair on its own thread, released together."""
    from mlm_explorer.predict import pseudo_log_likelihoods

    barrier = threading.Barrier(len(pairs) + 1)

    def student(pair: list[str]) -> None:
        barrier.wait()
        pseudo_log_likelihoods(lm, pair)

    threads = [threading.Thread(target=student, args=(p,)) for p in pairs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or hub id (default: a random MiniLM-sized BERT)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads at load")
    parser.add_argument("--repeat", type=int, default=4, help="timed runs of each (default 4)")
    parser.add_argument("--compare", choices=sorted(BASELINES), default="cores", help="the baseline")
    parser.add_argument("--one-thread", action="store_true", help="every pass on the cores less one, in both")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mlm_explorer import predict, serving

    tmp = tempfile.TemporaryDirectory()
    lm = resolve_model(args, tmp)
    threads = serving.configure_threads()
    pairs = [[f"The {a} keys to the cabinet are here.", f"The {a} keys to the cabinet is here."]
             for a in ADJECTIVES]
    setting, baseline_value, shipped_label, baseline_label = BASELINES[args.compare]
    if args.one_thread:
        predict.WIDE_PASS_TOKENS = 10**12
    shipped_value = getattr(predict, setting)
    burst(lm, pairs)  # warm-up
    times: dict[str, list[float]] = {shipped_label: [], baseline_label: []}
    for _ in range(args.repeat):
        for label, value in ((shipped_label, shipped_value), (baseline_label, baseline_value)):
            setattr(predict, setting, value)
            times[label].append(burst(lm, pairs))
    setattr(predict, setting, shipped_value)
    shipped, baseline = (statistics.median(times[k]) for k in (shipped_label, baseline_label))
    every = " (every pass)" if args.one_thread else " for small passes"
    print(f"30 pairs scored at once, {serving.available_cores()} cores, {threads} thread(s){every}")
    print(f"  {shipped_label + ' (shipped)':40s} {shipped:6.2f} s")
    print(f"  {baseline_label:40s} {baseline:6.2f} s")
    print(f"  {'ratio (baseline / shipped)':40s} {baseline / shipped:6.2f}x")


if __name__ == "__main__":
    main()
