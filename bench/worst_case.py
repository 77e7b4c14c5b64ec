"""The worst input of every endpoint: time and server memory, one call at a time (SECURITY.md's table).

Starts ``app.py`` (production settings, bundled model, 2 threads) on 127.0.0.1,
then sends each endpoint the most expensive input it accepts (the longest
text, every token masked, the largest settings) and one just past each cap.
For each call: seconds, the server's RSS before, at its peak (sampled every
20 ms) and 3 s after (what was not returned). Bounded: one call at a time,
120 s each.

    python bench/worst_case.py
    python bench/worst_case.py --repeat 3   # each case 3 times: median seconds and memory
    python bench/worst_case.py --json
    python bench/worst_case.py --burst 16   # 16 distinct 512-mask Predicts at once (memory budget)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import AppServer, client_for, rss_mb  # noqa: E402

INDEPENDENT, ITERATIVE = "independent (one pass)", "iterative (most confident first)"
LONG = ("word " * 1000)[:4999]  # 1,000 words: truncated to the model's 512 tokens
ALL_MASKS = ("[MASK] " * 800)[:4999]
WORDS_62 = " ".join(["word"] * 62)  # 62 tokens + [CLS] + [SEP] = the score cap (64)
WORDS_63 = " ".join(["word"] * 63)
ITER_16 = " ".join(["[MASK]"] * 16 + ["word"] * 494)  # 512 tokens × 16 masks = the cap (8,192)
ITER_17 = " ".join(["[MASK]"] * 17 + ["word"] * 493)
MASKS_512 = ("the [MASK] sat on the mat . " * 180)[:4999]  # 512 tokens after the cut, a mask in every 7
ONE_MASK_512 = "the [MASK] " + LONG[:4980]  # one blank, then words to the 512-token cut
SHORT_16 = "the children walked to [MASK] in the morning and the birds fly south ."  # 16 tokens
# Generate: the app's caps (APP_MAX_BLANKS 16, APP_MAX_SWEEPS 10, top-k 0 = the whole vocabulary).
GIBBS_16 = ("Only blanks", 16, "", "gibbs", 10, 1.0, 0, 0, True)

CASES = [
    ("/predict", "512 masks, top-20", (ALL_MASKS, "", 20, True, INDEPENDENT)),
    ("/predict", "iterative, 16 masks in 512 tokens (the cap)", (ITER_16, "", 20, False, ITERATIVE)),
    ("/predict", "iterative, 17 masks (refused)", (ITER_17, "", 20, False, ITERATIVE)),
    ("/predict", "iterative, 512 masks (refused)", (ALL_MASKS, "", 20, False, ITERATIVE)),
    ("/score", "two sentences of 64 tokens (the cap)", (WORDS_62, WORDS_62)),
    ("/score", "65 tokens (refused)", (WORDS_63, "")),
    ("/attention", "512 tokens, all heads", (LONG, "all heads of the layer", 5, 11, False)),
    ("/attention_plot", "512 tokens, rollout", ("rollout up to the layer", 5, 11, False)),
    ("/policy", "512 tokens, every token selected", (LONG, 1.0, 0.5, 0.5, 7, True)),
    ("/reroll", "512 tokens, every token selected", (LONG, 1.0, 0.5, 0.5, 7, False)),
    ("/policy_draws", "1,000 draws of 512 tokens", (LONG, 1.0, 0.5, 0.5, 7, True)),
    ("/tokenize", "5,000 characters", (ALL_MASKS,)),
    ("/redraw_chips", "5,000 characters", (LONG, "1, 2, 3")),
    ("/saliency", "512 tokens × 8 steps (the cap), all-[PAD]", (MASKS_512, "", "", "", 8, "all-[PAD]")),
    ("/saliency", "16 tokens × 256 steps (the cap)", (SHORT_16, "", "", "", 256, "all-[MASK]")),
    ("/saliency", "512 tokens × 16 steps (refused)", (MASKS_512, "", "", "", 16, "all-[PAD]")),
    ("/saliency", "512 tokens × 256 steps (refused)", (MASKS_512, "", "", "", 256, "all-[PAD]")),
    ("/layers", "512 tokens, top-10", (MASKS_512, "", "", 10)),
    ("/attention_diff", "512 tokens, 510 hidden", (LONG, ", ".join(map(str, range(1, 511))))),
    ("/generate", "16 blanks, 10 Gibbs sweeps, top-k all, + left-to-right", GIBBS_16),
    ("/compare_models", "512 tokens, top-20, one model twice", ("default", "default", ONE_MASK_512, 20)),
    ("/compare_sentences", "two of 512 tokens, top-20", (ONE_MASK_512, ONE_MASK_512, 20)),
    ("/load_model", "unknown hub id, offline", ("nobody-here/unreachable-model-1",)),
    ("/load_model", "the same again (remembered)", ("nobody-here/unreachable-model-1",)),
    ("/keep_share", "out of range (refused)", (5, 0.1)),
]


class Sampler:
    """The server's RSS every 20 ms between start() and stop()."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> Sampler:
        self.peak = rss_mb(self.pid)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.02)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(1)


def burst(server: AppServer, clients: int) -> dict:
    """``clients`` sessions send a different 512-mask text at once: time, peak and kept RSS."""
    sessions = [client_for(server.url) for _ in range(clients)]
    texts = [f"w{n} {ALL_MASKS}"[:4999] for n in range(clients)]  # distinct: nothing runs once for all
    errors: list[str] = []

    def press(client, text: str) -> None:
        try:
            client.predict(text, "", 20, True, INDEPENDENT, api_name="/predict")
        except Exception as err:  # noqa: BLE001 - counted
            errors.append(" ".join(str(err).split())[:90])

    time.sleep(1.0)
    before = server.rss()
    with Sampler(server.proc.pid) as sampler:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=press, args=pair) for pair in zip(sessions, texts, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        seconds = time.perf_counter() - t0
    time.sleep(3.0)
    return {"clients": clients, "seconds": round(seconds, 2), "rss_before_mb": round(before),
            "peak_extra_mb": round(sampler.peak - before), "kept_mb": round(server.rss() - before),
            "errors": errors[:3], "error_count": len(errors)}


def measure(server: AppServer, client, endpoint: str, inputs: tuple) -> dict:
    """One call: seconds, the server's RSS before it, its peak extra and what it kept 3 s later."""
    time.sleep(1.0)
    before = server.rss()
    with Sampler(server.proc.pid) as sampler:
        t0 = time.perf_counter()
        try:
            client.submit(*inputs, api_name=endpoint).result(timeout=120)
            outcome = "ok"
        except Exception as err:  # noqa: BLE001 - a refusal is an outcome
            outcome = "refused: " + " ".join(str(err).split())[:90]
        seconds = time.perf_counter() - t0
    time.sleep(3.0)
    return {"seconds": round(seconds, 2), "rss_before_mb": round(before),
            "peak_extra_mb": round(sampler.peak - before), "kept_mb": round(server.rss() - before),
            "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model"), help="model folder (bundled)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--burst", type=int, default=0, metavar="N",
                        help="instead: N sessions send distinct 512-mask Predicts at once (1-64)")
    parser.add_argument("--repeat", type=int, default=1, choices=range(1, 6), metavar="N",
                        help="run every case N times (1-5) and report medians")
    parser.add_argument("--only", nargs="+", default=None, metavar="ENDPOINT",
                        help="run only these endpoints' cases, e.g. --only /saliency /layers")
    args = parser.parse_args()
    if args.burst:
        if not 1 <= args.burst <= 64:
            parser.error("--burst is bounded on purpose: 1-64 sessions")
        with AppServer(args.model, threads=2) as server:
            result = burst(server, args.burst) | {"server_alive": server.alive()}
        print(json.dumps(result, indent=2) if args.json else
              f"{result['clients']} distinct 512-mask Predicts at once: {result['seconds']} s, peak "
              f"+{result['peak_extra_mb']} MB, kept {result['kept_mb']:+d} MB after 3 s, errors "
              f"{result['error_count']}, server alive: {result['server_alive']}")
        return
    rows = []
    with AppServer(args.model, threads=2) as server:
        client = client_for(server.url)
        client.predict('{"dark": false, "width": 1280, "search": ""}', api_name="/start_session")
        for endpoint, label, inputs in CASES:
            if args.only and endpoint not in args.only:
                continue
            runs = [measure(server, client, endpoint, inputs) for _ in range(args.repeat)]
            rows.append({"endpoint": endpoint, "input": label, "runs": len(runs)}
                        | {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "outcome"}
                        | {"outcome": runs[-1]["outcome"]})
            if not args.json:
                r = rows[-1]
                print(f"{endpoint:18s} {label:52s} {r['seconds']:6.2f} s  "
                      f"peak +{r['peak_extra_mb']:4.0f} MB  kept {r['kept_mb']:+5.0f} MB  {r['outcome']}",
                      flush=True)
        alive = server.alive()
    if args.json:
        print(json.dumps({"cases": rows, "repeat": args.repeat, "server_alive": alive}, indent=2))
    else:
        print(f"medians of {args.repeat} run(s) a case; server alive afterwards: {alive}")

if __name__ == "__main__":
    main()
