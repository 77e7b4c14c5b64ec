"""End-to-end latency of the app's predict endpoint against a bare fill-mask wrapper.

Starts two servers on loopback, each a fresh process on the same model:

- ours: ``python app.py`` (the real app; its ``/predict`` returns the top-k
  bar charts and the table, and keeps the attention of the same forward pass
  for the Attention tab; CSV and JSON files are written only when asked for);
- bare: ``bench/bare_fill_mask.py``, a ``gr.Interface`` around
  ``transformers.pipeline("fill-mask")`` returning the top-5 as JSON.

Cold start is the time from starting the process to the first successful API
call. Then both are called alternately through ``gradio_client``: N calls
with 1 client, and N calls with 8 concurrent clients (in rounds of 8, ours
then bare). Prints medians, p95s and ratios (ours / bare).

    python bench/bench_app.py                 # random MiniLM-sized BERT (6 x 384)
    python bench/bench_app.py --model assets/model --calls 50
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import build_minilm_sized  # noqa: E402

TEXT = "The capital of France is [MASK]."
OURS_ARGS = (TEXT, "", 5, False, "independent (one pass)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, model: str, threads: int) -> tuple[subprocess.Popen, str, float]:
    """Start one server; return it, its URL and its cold start (process start → first API answer)."""
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if kind == "ours":
        env.update(MLM_EXPLORER_MODEL=model, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
        cmd = [sys.executable, str(ROOT / "app.py")]
    else:
        cmd = [sys.executable, str(ROOT / "bench" / "bare_fill_mask.py"), model, str(port)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = t0 + 300
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with code {proc.returncode}")
        try:
            call(kind, client_for(url))
            return proc, url, time.perf_counter() - t0
        except Exception:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"{kind} server did not answer within 300 s")


def client_for(url: str):
    """A gradio_client that, like a browser, fetches files only when asked."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def call(kind: str, client) -> None:
    if kind == "ours":
        client.predict(*OURS_ARGS, api_name="/predict")
    else:
        client.predict(TEXT, api_name="/predict")


def timed(kind: str, client) -> float:
    t0 = time.perf_counter()
    call(kind, client)
    return time.perf_counter() - t0


def concurrent_round(kind: str, clients: list) -> tuple[list[float], int]:
    """One call from each client at once; returns the latencies and the number of errors."""
    times: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(c) -> None:
        try:
            t = timed(kind, c)
            with lock:
                times.append(t)
        except Exception:
            with lock:
                errors[0] += 1

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors[0]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def summarise(times: dict[str, list[float]]) -> dict:
    return {k: {"median_s": statistics.median(v), "p95_s": p95(v)} for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or hub id (default: a random MiniLM-sized BERT)")
    parser.add_argument("--calls", type=int, default=50, help="calls per server and setting (default 50)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per server (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_minilm_sized(Path(tmp) / "minilm"))
        servers = {}
        cold = {}
        try:
            for kind in ("ours", "bare"):
                proc, url, seconds = start(kind, model, args.threads)
                servers[kind], cold[kind] = (proc, url), seconds
            single: dict[str, list[float]] = {"ours": [], "bare": []}
            many: dict[str, list[float]] = {"ours": [], "bare": []}
            errors = {"ours": 0, "bare": 0}
            one = {k: client_for(servers[k][1]) for k in servers}
            for k in servers:  # warm up: first calls pay for lazy imports and caches
                for _ in range(3):
                    call(k, one[k])
            for _ in range(args.calls):
                for k in ("ours", "bare"):
                    single[k].append(timed(k, one[k]))
            pools = {k: [client_for(servers[k][1]) for _ in range(args.clients)] for k in servers}
            while min(len(v) for v in many.values()) < args.calls:
                for k in ("ours", "bare"):
                    times, errs = concurrent_round(k, pools[k])
                    many[k] += times
                    errors[k] += errs
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)

    result = {
        "model": args.model or "random MiniLM-sized BERT (6 layers x 384, 30,522 tokens)",
        "cold_start_s": cold,
        "one_client": summarise(single),
        f"{args.clients}_clients": summarise(many),
        "errors": errors,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model: {result['model']}; {args.calls} calls per setting; torch threads {args.threads}")
    print(f"{'':24}{'ours':>10}{'bare':>10}{'ratio':>8}")
    o, b = cold["ours"], cold["bare"]
    print(f"{'cold start (s)':24}{o:>10.2f}{b:>10.2f}{o / b:>8.2f}")
    for label, data in (("1 client", single), (f"{args.clients} clients", many)):
        for stat, fn in (("median", statistics.median), ("p95", p95)):
            o, b = fn(data["ours"]) * 1000, fn(data["bare"]) * 1000
            print(f"{label + ' ' + stat + ' (ms)':24}{o:>10.1f}{b:>10.1f}{o / b:>8.2f}")
    print(f"errors: ours {errors['ours']}, bare {errors['bare']}")


if __name__ == "__main__":
    main()
