"""Leaks: many visitors fine-tune briefly and leave; memory must come back once their state expires.

Starts ``app.py`` on 127.0.0.1 with a short session time-to-live
(``MLM_EXPLORER_SESSION_TTL``, 60 s here instead of an hour), then runs
``--sessions`` gradio_client sessions, ``--parallel`` at a time: each pastes a
few lines, fine-tunes the model for ``--steps`` steps (a private copy of the
model lives in its session state) and goes away. After the last one, it waits
for the states to expire and reports the server's resident memory:

- ``start``: after a warm-up session (the first fine-tuning allocates the
  optimizer's and autograd's one-off buffers) has expired, i.e. the idle
  server's working set;
- ``peak`` while sessions hold their models; ``end`` once their state
  expired. Pass: ``end`` within 10% of ``start``.

It also reports the disk the runs left behind (model zips for download and
Gradio's upload/download cache), which live in a private temporary folder
that is deleted afterwards.

    python bench/leaks.py                                  # 500 sessions, bundled model
    python bench/leaks.py --sessions 100 --steps 1 --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import AppServer, client_for  # noqa: E402

TEXT = "\n".join(f"The baker puts {n} eggs in the bowl and bakes the bread." for n in range(12))
PROBE = "The baker puts the [MASK] in the oven."


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6 if folder.exists() else 0.0


def one_session(url: str, steps: int, seed: int) -> str | None:
    """Open, fine-tune, leave; returns an error or None."""
    try:
        client = client_for(url)
        out = client.predict("Paste text", None, None, TEXT, "", "Current model", steps, 5e-5, 0.15, seed,
                             4, 30,
                             PROBE, api_name="/finetune_start")
        if not str(out[0]).startswith("**Done**"):
            return f"not done: {str(out[0])[:120]}"
        client.predict(api_name="/finetune_use")
        client.predict(PROBE, "", 3, False, "independent (one pass)", api_name="/predict")
        return None
    except Exception as err:  # noqa: BLE001 - counted
        return f"{type(err).__name__}: {str(err)[:160]}"


def run_sessions(url: str, n: int, parallel: int, steps: int) -> list[str]:
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            err = one_session(url, steps, i)
            if err:
                with lock:
                    errors.append(err)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def settle(server: AppServer, seconds: float) -> float:
    """Wait ``seconds`` (state expiry), then return the median of a few RSS readings."""
    time.sleep(seconds)
    readings = []
    for _ in range(5):
        readings.append(server.rss())
        time.sleep(1)
    return sorted(readings)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model"), help="model folder (bundled)")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=2, help="sessions at a time")
    parser.add_argument("--steps", type=int, default=5, help="fine-tuning steps per session (the UI minimum)")
    parser.add_argument("--ttl", type=int, default=60, help="server's MLM_EXPLORER_SESSION_TTL (>= 60)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 2000 or not 1 <= args.parallel <= 8:
        parser.error("bounded on purpose: 1-2000 sessions, 1-8 at a time")

    scratch = Path(tempfile.mkdtemp(prefix="mlm-leaks-"))
    env = {
        "MLM_EXPLORER_SESSION_TTL": str(args.ttl), "MLM_EXPLORER_MAX_TRAININGS": str(args.parallel),
        "TMPDIR": str(scratch), "GRADIO_TEMP_DIR": str(scratch / "gradio"),
    }
    wait = args.ttl + 15  # Gradio sweeps expired state every second
    try:
        with AppServer(args.model, args.threads, env) as server:
            cold = server.rss()
            warm_errors = run_sessions(server.url, 2, min(2, args.parallel), args.steps)
            start = settle(server, wait)
            t0 = time.perf_counter()
            errors = warm_errors + run_sessions(server.url, args.sessions, args.parallel, args.steps)
            seconds = time.perf_counter() - t0
            after_runs = server.rss()
            end = settle(server, wait)
            peak = server.peak()
            alive = server.alive()
        disk = folder_mb(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report = {
        "sessions": args.sessions, "parallel": args.parallel, "steps": args.steps, "ttl_s": args.ttl,
        "seconds": round(seconds, 1), "errors": len(errors), "error_samples": sorted(set(errors))[:5],
        "rss_mb": {"cold": round(cold), "start": round(start), "after_runs": round(after_runs),
                   "peak": round(peak), "end": round(end)},
        "end_vs_start": round(end / start - 1, 3), "within_10_percent": end <= start * 1.10,
        "disk_left_mb": round(disk), "server_alive": alive,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.sessions} sessions ({args.parallel} at a time, {args.steps} steps each) "
          f"in {report['seconds']} s, "
          f"errors {len(errors)}, server alive: {alive}")
    r = report["rss_mb"]
    print(f"server RSS MB: cold {r['cold']}, start (warm, idle) {r['start']}, right after the runs "
          f"{r['after_runs']}, peak {r['peak']}, end (states expired) {r['end']}")
    verdict = "PASS" if report["within_10_percent"] else "FAIL"
    print(f"end vs start: {report['end_vs_start']:+.1%} -> {verdict} "
          "(target within 10%)")
    print(f"disk left by the runs (zips, Gradio cache): {report['disk_left_mb']} MB")
    if errors:
        print("errors seen:", *report["error_samples"], sep="\n  ")


if __name__ == "__main__":
    main()
