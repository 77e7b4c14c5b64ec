"""The Fine-tune tab through its API: private models per session, a real Stop, a queue, bad input."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mlm_explorer.ui import jobs as tab  # noqa: E402

CAT = "\n".join(["the cat sat on the mat ."] * 40)
DOG = "\n".join(["the dog sat on the floor ."] * 40)
PROBE = "the cat sat on the [MASK] ."
INDEPENDENT = "independent (one pass)"
# Outputs of /finetune_start as the API returns them (the session state is not part of the API).
STATUS, PROGRESS, LOSS, PROBES, METRICS, DOWNLOAD = range(6)


@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path):
    saved = os.environ.get("MLM_EXPLORER_MODEL")
    os.environ["MLM_EXPLORER_MODEL"] = str(tiny_bert_dir)
    from mlm_explorer.ui import build_demo

    demo = build_demo()
    demo.queue(max_size=32, default_concurrency_limit=2)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, max_file_size="1mb"
    )
    yield url
    demo.close()
    if saved is None:
        os.environ.pop("MLM_EXPLORER_MODEL", None)
    else:
        os.environ["MLM_EXPLORER_MODEL"] = saved


def start(client: Client, text: str, steps: int = 80, seconds: int = 120, source: str = "Paste text",
          upload=None):
    """Submit a training (tiny model: a large learning rate learns one sentence in a few dozen steps)."""
    return client.submit(
        source, "recipes.txt", upload, text, "", "Current model", steps, 0.003, 0.15, 0, 8, seconds, PROBE,
        api_name="/finetune_start",
    )


def wait(job, timeout: float = 60.0):
    t0 = time.monotonic()
    while not job.done():
        assert time.monotonic() - t0 < timeout, "training did not finish"
        time.sleep(0.1)
    return job.outputs()[-1]


def top1(client: Client) -> str:
    _, table, *_ = client.predict(PROBE, "", 3, False, INDEPENDENT, api_name="/predict")
    return table["data"][0][table["headers"].index("top-1")]


@pytest.mark.slow
def test_two_sessions_train_at_once_and_keep_their_own_models(server, monkeypatch):
    monkeypatch.setenv(tab.MAX_TRAININGS_ENV, "2")
    a, b, bystander = (Client(server, verbose=False) for _ in range(3))
    untouched = top1(bystander)
    peak = []
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            peak.append(tab.SLOTS.running)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    job_a, job_b = start(a, CAT), start(b, DOG)
    final_a, final_b = wait(job_a), wait(job_b)
    watching.set()
    watcher.join()
    assert max(peak) == 2  # both really trained at the same time
    for final in (final_a, final_b):
        assert final[STATUS].startswith("**Done**") and Path(final[DOWNLOAD]["value"]).suffix == ".zip"
        metrics = {row[0]: row[1:] for row in final[METRICS]["data"]}
        assert metrics["loss (nats)"][1] < metrics["loss (nats)"][0]
    # Each session switches to its own model; their answers differ as their texts did.
    a.predict(api_name="/finetune_use")
    b.predict(api_name="/finetune_use")
    assert top1(a) == "mat" and top1(b) == "floor"
    assert top1(bystander) == untouched  # a third visitor's predictions never changed


def test_stop_ends_a_long_run_within_a_few_steps(server):
    client = Client(server, verbose=False)
    job = start(client, CAT, steps=1000, seconds=300)
    t0 = time.monotonic()
    while not any(isinstance(o[PROGRESS], str) and "step " in o[PROGRESS] for o in job.outputs()):
        assert time.monotonic() - t0 < 30
        time.sleep(0.1)
    assert client.predict(api_name="/finetune_stop").startswith("Stopping")
    stopped_at = time.monotonic()
    final = wait(job, timeout=20)
    assert time.monotonic() - stopped_at < 5
    assert "stopped by you" in final[STATUS]
    steps_done = int(final[PROGRESS].split('value="')[1].split('"')[0])
    assert 0 < steps_done < 1000
    assert client.predict(api_name="/finetune_stop") == "Nothing is training in this session."


@pytest.mark.slow
def test_second_visitor_queues_with_its_position(server, monkeypatch):
    monkeypatch.setenv(tab.MAX_TRAININGS_ENV, "1")
    first, second = Client(server, verbose=False), Client(server, verbose=False)
    job1 = start(first, CAT, steps=1000, seconds=300)
    while tab.SLOTS.running == 0:
        time.sleep(0.05)
    job2 = start(second, DOG, steps=5)
    t0 = time.monotonic()
    while not any("**number 1** in the queue" in str(o[STATUS]) for o in job2.outputs()):
        assert time.monotonic() - t0 < 20
        time.sleep(0.1)
    with pytest.raises(AppError, match="already running"):  # one training per session
        start(first, CAT).result()
    first.predict(api_name="/finetune_stop")
    assert wait(job2)[STATUS].startswith("**Done**")
    wait(job1)


@pytest.mark.parametrize(
    ("source", "text", "upload", "message"),
    [
        ("Paste text", "   ", None, "empty"),
        ("Upload a file", "", None, "Upload a"),
        ("Upload a file", "", b"\x00\x01\x02binary", "binary"),
        ("Upload a file", "", "latin", "not valid UTF"),
    ],
)
def test_bad_input_gets_a_clear_message(server, tmp_path, source, text, upload, message):
    client = Client(server, verbose=False)
    file_arg = None
    if upload is not None:
        path = tmp_path / "data.txt"
        if upload == "latin":  # a wrong encoding is repaired and reported, not an error
            path.write_bytes(("the café is open .\n" * 3).encode("latin-1") + b"the cat sat .\n" * 10)
        else:
            path.write_bytes(upload)
        file_arg = handle_file(str(path))
    job = start(client, text, steps=5, source=source, upload=file_arg)
    if upload == "latin":
        final = wait(job)
        assert message in final[STATUS] and "3 line" in final[STATUS]
        return
    with pytest.raises(AppError, match=message):
        job.result()


def test_nonsense_settings_are_refused(server):
    client = Client(server, verbose=False)
    with pytest.raises(AppError, match="greater than maximum"):  # the slider's own bound
        client.predict("Paste text", None, None, CAT, "", "Current model", 5000, 0.003, 0.15, 0, 8, 60, PROBE,
                       api_name="/finetune_start")
    with pytest.raises(AppError, match="learning rate must be between"):
        client.predict("Paste text", None, None, CAT, "", "Current model", 5, -1, 0.15, 0, 8, 60, PROBE,
                       api_name="/finetune_start")
    with pytest.raises(AppError, match="has no \\[MASK\\]"):
        client.predict("Paste text", None, None, CAT, "", "Current model", 5, 0.003, 0.15, 0, 8, 60,
                       "no blank", api_name="/finetune_start")
    with pytest.raises(AppError, match="No model has been fine-tuned"):
        client.predict(api_name="/finetune_use")


@pytest.mark.slow
def test_a_new_run_never_replaces_the_model_the_other_tabs_use(server):
    client = Client(server, verbose=False)
    untouched = top1(client)
    wait(start(client, CAT))
    assert top1(client) == untouched  # trained, not chosen: the other tabs keep their model
    client.predict(api_name="/finetune_use")
    assert top1(client) == "mat"
    final = wait(start(client, DOG))  # a second run after "Use" once
    assert final[STATUS].startswith("**Done**")
    assert top1(client) == "mat"  # the chosen model stays until the user chooses again
    client.predict(api_name="/finetune_use")
    assert top1(client) == "floor"
    assert client.predict(api_name="/finetune_back").startswith("Back to the default model")
    assert top1(client) == untouched


def test_two_starts_from_one_page_at_the_same_instant_admit_one(server, monkeypatch):
    monkeypatch.setenv(tab.MAX_TRAININGS_ENV, "4")
    client = Client(server, verbose=False)
    first, second = start(client, CAT, steps=1000, seconds=300), start(client, CAT, steps=1000, seconds=300)
    t0 = time.monotonic()
    while not (first.done() or second.done()):
        assert time.monotonic() - t0 < 30, "neither start was refused"
        time.sleep(0.05)
    refused, running = (first, second) if first.done() else (second, first)
    with pytest.raises(AppError, match="already running"):
        refused.result()
    t0 = time.monotonic()
    while tab.SLOTS.running == 0:  # the admitted one starts (a loaded machine may take a while)
        assert time.monotonic() - t0 < 30 and not running.done()
        time.sleep(0.05)
    time.sleep(0.5)
    assert tab.SLOTS.running == 1 and not running.done()
    client.predict(api_name="/finetune_stop")
    assert "stopped by you" in wait(running, timeout=20)[STATUS]


def test_admission_is_atomic_across_threads():
    from mlm_explorer.finetune import FinetuneConfig
    from mlm_explorer.ui.state import Session

    session = Session(model_key="bundled")
    barrier = threading.Barrier(16)
    won: list[bool] = []

    def contend():
        job = tab.Job(config=FinetuneConfig())
        barrier.wait()
        won.append(tab.claim(session, job))

    threads = [threading.Thread(target=contend) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count(True) == 1


def test_the_loss_figure_keeps_the_sessions_earlier_runs(server):
    import json

    from mlm_explorer import plots

    client = Client(server, verbose=False)
    wait(start(client, CAT, steps=20))
    final = wait(start(client, DOG, steps=30))
    fig = json.loads(final[LOSS]["plot"])
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    assert [t["name"] for t in lines] == ["run 1: pasted text", "run 2: pasted text"]
    assert [len(t["x"]) for t in lines] == [20, 30]
    assert lines[-1]["line"]["color"] == plots.TRAIN_COLOR and lines[0]["line"]["color"] != plots.TRAIN_COLOR
    other = wait(start(Client(server, verbose=False), CAT, steps=10))  # another visitor: only its own run
    assert [t["name"] for t in json.loads(other[LOSS]["plot"])["data"] if t["mode"] == "lines"] == [
        "run 1: pasted text"
    ]


def test_finetune_figures_follow_the_page_look():
    from mlm_explorer import plots
    from mlm_explorer.ui import finetune as ft_tab
    from mlm_explorer.ui import look
    from mlm_explorer.ui.state import Session

    session = Session(model_key="bundled")
    session.extras[look.LOOK_KEY] = plots.Look(dark=True, projector=True)
    session.extras[ft_tab.RUNS_KEY] = [("run 1: recipes.txt", [1, 2], [3.0, 2.0])]
    fig = ft_tab.open_finetune(session)
    assert fig.layout.paper_bgcolor == "rgba(0,0,0,0)" and fig.layout.font.size > 15  # dark, projector
    assert [t.name for t in fig.data if t.mode == "lines"] == ["run 1: recipes.txt"]


def test_an_accuracy_change_is_in_percentage_points():
    from mlm_explorer.training import Metrics
    from mlm_explorer.ui.finetune import _metrics_view
    from mlm_explorer.views import metrics_table

    html = _metrics_view(metrics_table(Metrics(3.0, 0.414, 100), Metrics(2.0, 0.621, 100))).to_html()
    # 41.4% → 62.1% is 20.7 points, a relative change of +50%: a "+20.7%" would be misread
    assert "41.4%" in html and "62.1%" in html and "+20.7 pts" in html and "+20.7%" not in html
