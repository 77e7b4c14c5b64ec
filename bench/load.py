"""Load: a class of visitors clicking through the app at once, plus fine-tunings, on loopback.

Starts ``app.py`` (production launch settings) on 127.0.0.1 with the bundled model,
then runs ``--visitors`` simulated students through gradio_client for
``--seconds``: open the page (``/start_session``), predict, re-roll the 80/10/10
policy, attention, sentence score, and again. At the same time ``--trainings``
visitors each start a short fine-tuning. Bounded: a fixed number of threads, a
wall-clock limit, loopback only.

Reports requests served, errors (target 0), median and p95 latency per
endpoint and overall, queue wait (time from submission to the start of
processing, from the queue's own status messages), the fine-tunings'
outcome, and the server's resident memory at start, peak and end.

    python bench/load.py                      # 30 visitors, 60 s, 2 fine-tunings
    python bench/load.py --visitors 10 --seconds 30 --json
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

from bench._server import AppServer, client_for  # noqa: E402

MODE = "independent (one pass)"
SENTENCES = [
    "The capital of France is [MASK].", "The man worked as a [MASK].", "The cat sat on the [MASK].",
    "I drank a cup of [MASK] this morning.", "She opened the door with a [MASK].",
]
POLICY_TEXT = "The children went to school every morning and played in the park after lunch."
FINETUNE_TEXT = "\n".join(f"Whisk the eggs with the sugar in bowl number {i}." for i in range(60))


def p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))] if s else float("nan")


class Log:
    """Thread-safe record of every request: endpoint, latency, queue wait, error."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[dict] = []

    def add(self, **row) -> None:
        with self.lock:
            self.rows.append(row)


def queue_wait(job, submitted: float) -> float | None:
    """Seconds between submission and the queue's "processing" message, if the client saw one."""
    from gradio_client.utils import Status

    updates = job.communicator.updates if job.communicator else None
    first_processing = None
    while updates is not None and not updates.empty():
        update = updates.get_nowait()
        status = getattr(update, "code", None) or getattr(getattr(update, "status", None), "code", None)
        if status == Status.PROCESSING and first_processing is None:
            first_processing = getattr(update, "time", None) or getattr(update.status, "time", None)
    if first_processing is None:
        return None
    return max(0.0, first_processing.timestamp() - submitted)


def timed(log: Log, client, endpoint: str, *args, timeout: float = 120.0):
    submitted = time.time()
    t0 = time.perf_counter()
    job = None
    try:  # a refused call (e.g. arguments the endpoint no longer takes) is an error, not a dead visitor
        job = client.submit(*args, api_name=endpoint)
        out = job.result(timeout=timeout)
        error = None
    except Exception as err:  # noqa: BLE001 - counted, not raised
        out, error = None, f"{type(err).__name__}: {str(err)[:160]}"
    wait = queue_wait(job, submitted) if job is not None else None
    log.add(endpoint=endpoint, seconds=time.perf_counter() - t0, wait=wait, error=error)
    return out


# What a laptop's browser reports when the page opens (ui/look.py reads theme and width from it).
PAGE = '{"dark": false, "width": 1280, "search": ""}'


def visitor(n: int, url: str, deadline: float, log: Log) -> None:
    """One student: open the page, then predict / re-roll / attention / score until the bell."""
    try:
        client = client_for(url)
    except Exception as err:  # noqa: BLE001
        log.add(endpoint="open", seconds=0.0, wait=None, error=f"{type(err).__name__}: {err}")
        return
    timed(log, client, "/start_session", PAGE)
    seed = n
    while time.monotonic() < deadline:
        text = SENTENCES[(n + seed) % len(SENTENCES)]
        timed(log, client, "/predict", text, "", 5, False, MODE)
        if time.monotonic() >= deadline:
            break
        seed += 1
        timed(log, client, "/reroll", POLICY_TEXT, 0.15, 0.8, 0.1, seed, False)
        if time.monotonic() >= deadline:
            break
        timed(log, client, "/attention", text, "one head", 2, 3, False)
        if time.monotonic() >= deadline:
            break
        timed(log, client, "/score", "The keys to the cabinet are here.", "The keys to the cabinet is here.")


def trainer(n: int, url: str, steps: int, log: Log, results: list) -> None:
    client = client_for(url)
    t0 = time.perf_counter()
    job = client.submit("Paste text", None, None, FINETUNE_TEXT, "", "Current model", steps, 5e-5, 0.15, n,
                        16, 120, "Whisk the eggs with the [MASK] in a bowl.", api_name="/finetune_start")
    try:
        out = job.result(timeout=600)
        status, error = out[0], None
    except Exception as err:  # noqa: BLE001
        status, error = "", f"{type(err).__name__}: {str(err)[:200]}"
    seconds = time.perf_counter() - t0
    results.append({"trainer": n, "seconds": round(seconds, 1), "done": status.startswith("**Done**"),
                    "error": error})
    log.add(endpoint="/finetune_start", seconds=seconds, wait=None, error=error)


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["error"] is None]
    lat = [r["seconds"] for r in ok]
    waits = [r["wait"] for r in ok if r["wait"] is not None]
    by_endpoint = {}
    for name in sorted({r["endpoint"] for r in rows}):
        mine = [r for r in rows if r["endpoint"] == name]
        good = [r["seconds"] for r in mine if r["error"] is None]
        by_endpoint[name] = {
            "served": len(good), "errors": len(mine) - len(good),
            "median_s": round(statistics.median(good), 3) if good else None,
            "p95_s": round(p95(good), 3) if good else None,
        }
    return {
        "requests": len(rows), "served": len(ok), "errors": len(rows) - len(ok),
        "median_s": round(statistics.median(lat), 3) if lat else None,
        "p95_s": round(p95(lat), 3) if lat else None,
        "queue_wait_median_s": round(statistics.median(waits), 3) if waits else None,
        "queue_wait_p95_s": round(p95(waits), 3) if waits else None,
        "by_endpoint": by_endpoint,
        "error_samples": sorted({r["error"] for r in rows if r["error"]})[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model"), help="model folder (bundled)")
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trainings", type=int, default=2, help="fine-tunings started with the visitors")
    parser.add_argument("--steps", type=int, default=20, help="steps of each fine-tuning")
    parser.add_argument("--max-trainings", type=int, default=2,
                        help="server's MLM_EXPLORER_MAX_TRAININGS (2: both train at once, the worst case)")
    parser.add_argument("--threads", type=int, default=2, help="server's torch threads (a free Space: 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.visitors <= 100 or not 1 <= args.seconds <= 600 or not 0 <= args.trainings <= 4:
        parser.error("bounded on purpose: 1-100 visitors, 1-600 s, 0-4 trainings")

    env = {"MLM_EXPLORER_MAX_TRAININGS": str(args.max_trainings)}
    with AppServer(args.model, args.threads, env) as server:
        rss_start = server.rss()
        log, trained = Log(), []
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=visitor, args=(i, server.url, deadline, log), daemon=True)
                   for i in range(args.visitors)]
        threads += [
            threading.Thread(target=trainer, args=(i, server.url, args.steps, log, trained), daemon=True)
            for i in range(args.trainings)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 660)
        wall = time.perf_counter() - t0
        alive = server.alive()
        time.sleep(2)
        report = {
            "visitors": args.visitors, "seconds": args.seconds, "wall_s": round(wall, 1),
            "trainings": trained, "server_alive": alive,
            "rss_mb": {"start": round(rss_start), "peak": round(server.peak()), "end": round(server.rss())},
            **summarise(log.rows),
        }
        report["throughput_rps"] = round(report["served"] / wall, 2)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.visitors} visitors for {args.seconds:.0f} s + {args.trainings} fine-tunings "
          f"(wall {report['wall_s']} s, server alive: {alive})")
    print(f"requests served {report['served']} / {report['requests']}, errors {report['errors']}, "
          f"{report['throughput_rps']} req/s")
    print(f"latency median {report['median_s']} s, p95 {report['p95_s']} s; queue wait median "
          f"{report['queue_wait_median_s']} s, p95 {report['queue_wait_p95_s']} s")
    for name, row in report["by_endpoint"].items():
        print(f"  {name:18s} served {row['served']:4d} errors {row['errors']:3d} "
              f"median {row['median_s']} s p95 {row['p95_s']} s")
    print(f"fine-tunings: {trained}")
    print(f"server RSS MB: start {report['rss_mb']['start']}, peak {report['rss_mb']['peak']}, "
          f"end {report['rss_mb']['end']}")
    if report["error_samples"]:
        print("errors seen:", *report["error_samples"], sep="\n  ")


if __name__ == "__main__":
    main()
