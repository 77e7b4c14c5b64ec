"""Start ``app.py`` as its own process on loopback for the reliability benchmarks; watch its memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc; 0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def client_for(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


class AppServer:
    """``python app.py`` on 127.0.0.1 with the given environment; a context manager."""

    def __init__(self, model: str, threads: int = 2, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.env = dict(
            os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
            GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
            MLM_EXPLORER_MODEL=model, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port),
            **(env or {}),
        )
        self.proc: subprocess.Popen | None = None
        self.samples: list[tuple[float, float]] = []  # (monotonic time, RSS MB)
        self._stop = threading.Event()

    def __enter__(self) -> AppServer:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")], env=self.env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.proc.returncode}")
            try:
                client_for(self.url).predict("warm up [MASK] .", "", 5, False, "independent (one pass)",
                                             api_name="/predict")
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        else:
            self.proc.kill()
            raise RuntimeError("app.py did not answer within 300 s")
        threading.Thread(target=self._sample, daemon=True).start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_mb(self.proc.pid)))
            self._stop.wait(0.5)

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def peak(self) -> float:
        return max((m for _, m in self.samples), default=0.0)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
