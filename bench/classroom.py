"""A class pressing the same button at once: bursts against the app, a do-nothing app and a bare wrapper.

Starts three servers on 127.0.0.1: ``app.py`` (production settings, bundled
model), a Gradio app whose one event does nothing (the framework's floor on
this machine), and ``bare_fill_mask.py`` (a plain ``gr.Interface`` around
transformers' fill-mask pipeline). ``--clients`` gradio_client clients each
(one session apiece) wait at a barrier and press together; the time of the
*last* answer of a burst is what a class waits. Each burst is repeated
``--rounds`` times and the median kept. Then a steady lesson: every client
clicks a random button, thinks 2-6 s, and again, for ``--lesson-seconds``.

Prints the last-answer times and their ratios to the do-nothing burst
(targets: Predict ≤ 1.3×, Score ≤ 2.0×, lesson errors 0) and, with
``--compare-unbatched``, the same bursts with the inference worker off
(``MLM_EXPLORER_BATCHING=0``); with ``--variant-env KEY=VALUE``, the same bursts
against a second app with that environment (an A/B in one run). All servers run at once and the rounds
interleave them, so a busy machine slows each alike. Bounded: at most 60 clients, 10 rounds, 300 s of
lesson, 120 s per call, loopback only.

    python bench/classroom.py                         # 30 clients, 3 rounds, 30 s lesson
    python bench/classroom.py --clients 10 --rounds 2 --lesson-seconds 0 --json
    python bench/classroom.py --distinct              # every client its own sentence
    python bench/classroom.py --variant-env MLM_EXPLORER_SWITCH_INTERVAL_MS=1   # A/B a setting
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import AppServer, client_for, free_port  # noqa: E402

MODE = "independent (one pass)"
PREDICT = ("/predict", ("The capital of France is [MASK].", "", 5, False, MODE))
SCORE = ("/score", ("The keys to the cabinet are here.", "The keys to the cabinet is here."))
POLICY = ("/policy", ("The children went to school every morning and played in the park after lunch.",
                      0.15, 0.8, 0.1, 0, False))
ATTENTION = ("/attention", ("The cat sat on the [MASK] because it was tired.", "one head", 2, 3, False))
CALL_TIMEOUT_S = 120.0
# --distinct: client i puts ADJECTIVES[i] after the first word ("The old capital of France is
# [MASK].") so no two inputs of a burst are the same and none is computed once for all.
ADJECTIVES = ("old", "new", "big", "small", "red", "blue", "green", "long", "short", "young", "quiet",
              "loud", "happy", "sad", "bright", "dark", "cold", "warm", "early", "late", "first", "last",
              "main", "same", "other", "whole", "real", "best", "great", "little")


def distinct(inputs: tuple, i: int) -> tuple:
    """``inputs`` with the text arguments of client ``i`` made its own (see ADJECTIVES)."""
    word = ADJECTIVES[i % len(ADJECTIVES)] + ("" if i < len(ADJECTIVES) else str(i))

    def own(value):
        if isinstance(value, str) and value.startswith("The "):
            return f"The {word} {value[4:]}"
        return value

    return tuple(own(v) for v in inputs)

NOOP_APP = """
import os, sys
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr

def nothing(text: str) -> str:
    \"\"\"Return the text unchanged.\"\"\"
    return text

demo = gr.Interface(nothing, gr.Textbox(), gr.Textbox(), api_name="predict", concurrency_limit=CONCURRENCY)
demo.queue(max_size=64).launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), quiet=True)
"""


class Process:
    """A helper server (``python -c`` or a script) on a free loopback port; a context manager."""

    def __init__(self, argv: list[str], env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.argv = [*argv, str(self.port)]
        self.env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
                        TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="2", **(env or {}))
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Process:
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[:3]} exited with code {self.proc.returncode}")
            try:
                client_for(self.url).predict("warm up [MASK] .", api_name="/predict")
                return self
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        self.proc.kill()
        raise RuntimeError(f"{self.argv[:3]} did not answer within 300 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def clients_for(url: str, n: int) -> list:
    """``n`` clients (sessions), opened a few at a time."""
    out: list = [None] * n

    def open_one(i: int) -> None:
        out[i] = client_for(url)

    for start in range(0, n, 8):
        threads = [threading.Thread(target=open_one, args=(i,)) for i in range(start, min(n, start + 8))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    return [c for c in out if c is not None]


def burst(clients: list, endpoint: str, args: tuple, own_inputs: bool = False) -> dict:
    """Every client presses at once (a barrier); the seconds of each answer, from the release.

    ``own_inputs``: each client sends its own text (:func:`distinct`) instead of the same one.
    """
    barrier = threading.Barrier(len(clients) + 1)
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    release = [0.0]

    def press(i: int, client) -> None:
        inputs = distinct(args, i) if own_inputs else args
        barrier.wait()
        try:
            client.submit(*inputs, api_name=endpoint).result(timeout=CALL_TIMEOUT_S)
            with lock:
                times.append(time.perf_counter() - release[0])
        except Exception as err:  # noqa: BLE001 - counted
            with lock:
                errors.append(f"{type(err).__name__}: {str(err)[:120]}")

    threads = [threading.Thread(target=press, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    release[0] = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(CALL_TIMEOUT_S + 10)
    return {"last_s": max(times) if times else float("nan"), "median_s": statistics.median(times) if times
            else float("nan"), "errors": len(errors), "error_samples": errors[:3]}


def summarise(runs: list[dict]) -> dict:
    """Medians over the rounds of one kind of burst."""
    return {
        "last_s": round(statistics.median(r["last_s"] for r in runs), 3),
        "median_s": round(statistics.median(r["median_s"] for r in runs), 3),
        "errors": sum(r["errors"] for r in runs),
        "error_samples": [e for r in runs for e in r["error_samples"]][:3],
    }


def single(client, endpoint: str, args: tuple, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        client.predict(*args, api_name=endpoint)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def lesson(clients: list, seconds: float, seed: int = 0) -> dict:
    """Every client clicks a random button, thinks 2-6 s, and again, until the bell."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def student(n: int, client) -> None:
        rng = random.Random(seed + n)
        time.sleep(rng.uniform(0, 2))
        while time.monotonic() < deadline:
            endpoint, args = rng.choice([PREDICT, PREDICT, POLICY, ATTENTION, SCORE])
            t0 = time.perf_counter()
            try:
                client.submit(*args, api_name=endpoint).result(timeout=CALL_TIMEOUT_S)
                with lock:
                    latencies.append(time.perf_counter() - t0)
            except Exception as err:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"{endpoint} {type(err).__name__}: {str(err)[:120]}")
            time.sleep(rng.uniform(2, 6))

    threads = [threading.Thread(target=student, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + CALL_TIMEOUT_S + 10)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("nan")
    return {"requests": len(latencies) + len(errors), "errors": len(errors), "error_samples": errors[:3],
            "median_s": round(statistics.median(ordered), 3) if ordered else None, "p95_s": round(p95, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model"), help="model folder (bundled)")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lesson-seconds", type=float, default=30.0)
    parser.add_argument("--compare-unbatched", action="store_true",
                        help="also measure the app with MLM_EXPLORER_BATCHING=0")
    parser.add_argument("--variant-env", metavar="KEY=VALUE", action="append", default=[],
                        help="also measure the app with this environment (A/B in one run; repeatable)")
    parser.add_argument("--distinct", action="store_true",
                        help="every client sends its own sentence (no two inputs of a burst alike)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variant = dict(item.split("=", 1) for item in args.variant_env if "=" in item)
    if len(variant) != len(args.variant_env):
        parser.error("--variant-env takes KEY=VALUE")
    if not 1 <= args.clients <= 60 or not 1 <= args.rounds <= 10 or not 0 <= args.lesson_seconds <= 300:
        parser.error("bounded on purpose: 1-60 clients, 1-10 rounds, 0-300 s of lesson")

    from mlm_explorer.ui.common import INFERENCE_CONCURRENCY  # the noop event gets our limit

    noop = [sys.executable, "-c", NOOP_APP.replace("CONCURRENCY", str(INFERENCE_CONCURRENCY))]
    bare = [sys.executable, str(ROOT / "bench" / "bare_fill_mask.py"), args.model]
    report: dict = {"clients": args.clients, "rounds": args.rounds, "distinct_inputs": args.distinct}
    # Every server runs at once and the rounds interleave them (noop, bare, app, ...), so a busy
    # machine slows each of them alike and the ratios of one run stay comparable.
    with contextlib.ExitStack() as stack:
        servers = {"noop": stack.enter_context(Process(noop)),
                   "bare_fill_mask": stack.enter_context(Process(bare)),
                   "app": stack.enter_context(AppServer(args.model, threads=2))}
        if args.compare_unbatched:
            servers["app_unbatched"] = stack.enter_context(
                AppServer(args.model, threads=2, env={"MLM_EXPLORER_BATCHING": "0"}))
        if variant:
            servers["app_variant"] = stack.enter_context(AppServer(args.model, threads=2, env=variant))
        clients = {name: clients_for(server.url, args.clients) for name, server in servers.items()}
        plan = [("noop", "noop", ("/predict", ("x",))),
                ("bare_fill_mask", "bare_fill_mask", ("/predict", (PREDICT[1][0],)))]
        for app in [n for n in servers if n.startswith("app")]:
            plan += [(app, kind, call) for kind, call in
                     (("predict", PREDICT), ("score", SCORE), ("policy", POLICY), ("attention", ATTENTION))]
        runs: dict = {}
        for server, _kind, (endpoint, inputs) in plan:  # warm up every endpoint once
            clients[server][0].predict(*inputs, api_name=endpoint)
        for _ in range(args.rounds):
            for server, kind, (endpoint, inputs) in plan:
                runs.setdefault((server, kind), []).append(
                    burst(clients[server], endpoint, inputs, own_inputs=args.distinct))
        for (server, kind), rows in runs.items():
            target = report.setdefault(server, {})
            if server in ("noop", "bare_fill_mask"):
                target.update(summarise(rows))
            else:
                target[kind] = summarise(rows)
        report["noop"]["single_s"] = single(clients["noop"][0], "/predict", ("x",))
        report["bare_fill_mask"]["single_s"] = single(clients["bare_fill_mask"][0], "/predict",
                                                      (PREDICT[1][0],))
        report["app"]["single_predict_s"] = single(clients["app"][0], *PREDICT)
        report["app"]["single_score_s"] = single(clients["app"][0], *SCORE)
        if args.lesson_seconds > 0:
            report["app"]["lesson"] = lesson(clients["app"], args.lesson_seconds)
        report["app"]["rss_mb_peak"] = round(servers["app"].peak())
    floor = report["noop"]["last_s"]
    report["ratios_to_noop"] = {
        "predict": round(report["app"]["predict"]["last_s"] / floor, 2),
        "score": round(report["app"]["score"]["last_s"] / floor, 2),
        "policy": round(report["app"]["policy"]["last_s"] / floor, 2),
        "attention": round(report["app"]["attention"]["last_s"] / floor, 2),
        "bare_fill_mask": round(report["bare_fill_mask"]["last_s"] / floor, 2),
    }
    for other in ("app_unbatched", "app_variant"):
        if other in report:
            suffix = other.removeprefix("app_")
            for kind in ("predict", "score"):
                report["ratios_to_noop"][f"{kind}_{suffix}"] = round(report[other][kind]["last_s"] / floor, 2)
    if variant:
        report["variant_env"] = variant
    if args.json:
        print(json.dumps(report, indent=2))
        return
    n = args.clients
    inputs = "each its own sentence" if args.distinct else "the same sentence"
    print(f"{n} clients pressing together ({inputs}), median of {args.rounds} bursts; "
          "last answer (median answer)")
    print(f"  do-nothing Gradio event  {floor:6.2f} s ({report['noop']['median_s']:.2f} s); "
          f"single call {report['noop']['single_s']:.3f} s")
    bare = report["bare_fill_mask"]
    print(f"  bare fill-mask wrapper   {bare['last_s']:6.2f} s ({bare['median_s']:.2f} s)  "
          f"{report['ratios_to_noop']['bare_fill_mask']:.2f}x")
    variant_label = "app, " + " ".join(f"{k}={v}" for k, v in variant.items())
    for label, rows in (("app", report["app"]), ("app, batching off", report.get("app_unbatched")),
                        (variant_label, report.get("app_variant"))):
        if rows is None:
            continue
        for kind in ("predict", "score", "policy", "attention"):
            r = rows[kind]
            print(f"  {label:17s} {kind:9s} {r['last_s']:6.2f} s ({r['median_s']:.2f} s)  "
                  f"{r['last_s'] / floor:.2f}x  errors {r['errors']}")
    print(f"  app single call: predict {report['app']['single_predict_s']:.3f} s, "
          f"score {report['app']['single_score_s']:.3f} s; server RSS peak {report['app']['rss_mb_peak']} MB")
    if "lesson" in report["app"]:
        les = report["app"]["lesson"]
        print(f"steady lesson {args.lesson_seconds:.0f} s: {les['requests']} requests, "
              f"errors {les['errors']}, "
              f"median {les['median_s']} s, p95 {les['p95_s']} s")
    print("targets: predict <= 1.3x, score <= 2.0x the do-nothing burst; 0 errors")


if __name__ == "__main__":
    main()
