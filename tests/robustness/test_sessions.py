"""Session memory: a page that closed gives its fine-tuned model back after the session TTL.

Found by ``bench/leaks.py``: Gradio keeps a closed page's state for a fixed hour
whatever ``gr.State(time_to_live=...)`` says, so 100 visitors who fine-tuned and
left held ~90 MB each for an hour. The app's unload hook shortens that to
``MLM_EXPLORER_SESSION_TTL``. The full check (RSS back within 10%) is the benchmark.
"""

from __future__ import annotations

import types

import pytest

gr = pytest.importorskip("gradio")


def test_a_closed_page_expires_after_the_session_ttl(monkeypatch):
    from mlm_explorer.ui import expire_closed_session

    monkeypatch.setenv("MLM_EXPLORER_SESSION_TTL", "90")
    closed = types.SimpleNamespace(STATE_TTL_WHEN_CLOSED=3600)
    other = types.SimpleNamespace(STATE_TTL_WHEN_CLOSED=3600)
    demo = types.SimpleNamespace(state_holder=types.SimpleNamespace(session_data={"a": closed, "b": other}))
    expire_closed_session(demo)(types.SimpleNamespace(session_hash="a"))
    assert closed.STATE_TTL_WHEN_CLOSED == 90
    assert other.STATE_TTL_WHEN_CLOSED == 3600  # only the page that closed
    expire_closed_session(demo)(types.SimpleNamespace(session_hash="gone"))  # unknown session: no error


def test_the_hook_is_wired_and_gradio_still_has_the_knob(tiny_bert_dir, monkeypatch):
    from gradio.state_holder import SessionState

    from mlm_explorer.ui import build_demo

    monkeypatch.setenv("MLM_EXPLORER_MODEL", str(tiny_bert_dir))
    demo = build_demo()
    assert any(t[1] == "unload" for dep in demo.fns.values() for t in dep.targets)
    # The hook sets this attribute of Gradio's per-session state; fail loudly if Gradio renames it.
    assert SessionState(demo).STATE_TTL_WHEN_CLOSED == 3600


def test_releasing_a_trained_session_trims_the_heap(monkeypatch):
    from mlm_explorer.ui import state

    calls = []
    monkeypatch.setattr(state, "trim_heap", lambda: calls.append(1))
    trained = state.Session(model_key=state.SESSION_MODEL, own_model=object(), extras={"job": object()})
    state.release_session(trained)
    assert trained.own_model is None and trained.extras == {} and calls == [1]
    state.release_session(state.Session(model_key="bundled"))  # nothing to give back: no trim
    assert calls == [1]


def test_trim_heap_never_raises():
    from mlm_explorer.ui.state import trim_heap

    trim_heap()  # glibc: returns pages; elsewhere: a no-op
