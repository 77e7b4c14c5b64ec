"""A class's burst of sentence scores in the library: large passes on every core vs the cores less one.

Thirty threads (thirty students) each score their own pair of sentences
(``predict.pseudo_log_likelihoods``) at once through the inference worker, with
torch set as a server sets it (:func:`serving.configure_threads`: the cores less
one). Runs alternate between the shipped setting (passes of
``predict.WIDE_PASS_TOKENS`` padded tokens or more run on every core) and the
baseline (every pass on the cores less one); prints the median seconds of each
and their ratio. On one core both are the same.

    python bench/bench_score_burst.py [--model DIR_OR_ID] [--repeat 4]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom import ADJECTIVES  # noqa: E402  (the same thirty students as the app burst)
from common import parse_args, resolve_model  # noqa: E402


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


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    from mlm_explorer import predict, serving

    tmp = tempfile.TemporaryDirectory()
    lm = resolve_model(args, tmp)
    threads = serving.configure_threads()
    pairs = [[f"The {a} keys to the cabinet are here.", f"The {a} keys to the cabinet is here."]
             for a in ADJECTIVES]
    shipped = predict.WIDE_PASS_TOKENS
    burst(lm, pairs)  # warm-up
    times: dict[str, list[float]] = {"every core": [], "cores less one": []}
    for _ in range(args.repeat or 4):
        for label, wide in (("every core", shipped), ("cores less one", 10**12)):
            predict.WIDE_PASS_TOKENS = wide
            times[label].append(burst(lm, pairs))
    predict.WIDE_PASS_TOKENS = shipped
    wide, narrow = (statistics.median(times[k]) for k in ("every core", "cores less one"))
    print(f"30 pairs scored at once, {serving.available_cores()} cores, {threads} thread(s) for small passes")
    print(f"  large passes on every core (shipped)  {wide:6.2f} s")
    print(f"  every pass on the cores less one      {narrow:6.2f} s")
    print(f"  ratio (baseline / shipped)            {narrow / wide:6.2f}x")


if __name__ == "__main__":
    main()
