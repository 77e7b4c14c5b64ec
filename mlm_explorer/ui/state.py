"""Per-browser-session state: which model this visitor uses, and what to re-plot.

One :class:`Session` lives in a ``gr.State`` per browser tab. It holds
*names*, not shared models: the shared, cached models come from
``models.load_model`` on each event (a cache hit), so a session costs a few
bytes and one visitor switching models changes nothing for another. The only
heavy things a session may own are its fine-tuned model and the last attention
tensors; Gradio drops both when the session ends or its time to live passes
(``MLM_EXPLORER_SESSION_TTL`` seconds, see :func:`session_ttl`).

This module does not import gradio, so it is testable on its own.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlm_explorer.attention import AttentionMaps
    from mlm_explorer.models import LoadedModel

#: Choice value that means "the model fine-tuned in this browser session".
SESSION_MODEL = "session:finetuned"
#: Environment variable: seconds a session's state is kept after its last use.
SESSION_TTL_ENV = "MLM_EXPLORER_SESSION_TTL"
_DEFAULT_TTL_S = 3600  # an hour: a lesson; a fine-tuned model must not outlive it for long


def session_ttl() -> int:
    """``$MLM_EXPLORER_SESSION_TTL`` seconds (default one hour), at least 60."""
    raw = os.environ.get(SESSION_TTL_ENV, "").strip()
    try:
        value = int(float(raw)) if raw else _DEFAULT_TTL_S
    except ValueError:
        value = _DEFAULT_TTL_S
    return max(60, value)


@dataclass
class Session:
    """What one browser session chose and computed.

    The fine-tune tab contract: after training, set ``own_model`` to a
    session-private :class:`LoadedModel` (never a shared one: train a copy)
    and ``own_label`` to a short description, then call :meth:`use_own_model`;
    the picker then offers "fine-tuned in this session" and every tab uses it.
    """

    model_key: str  # a picker value: a hub id, a folder path, or SESSION_MODEL
    own_model: LoadedModel | None = None  # fine-tuned here; freed with the session
    own_label: str = ""  # e.g. "fine-tuned on sample.txt, 200 steps"
    attention: AttentionMaps | None = None  # last attention forward pass, re-plotted without the model
    extras: dict = field(default_factory=dict)  # room for other tabs' small per-session values

    @property
    def uses_own_model(self) -> bool:
        return self.model_key == SESSION_MODEL

    def use_own_model(self) -> None:
        """Switch this session to its fine-tuned model (which must be set)."""
        if self.own_model is None:
            raise ValueError("No model has been fine-tuned in this session yet.")
        self.model_key = SESSION_MODEL
        self.attention = None

    def release(self) -> None:
        """Drop the heavy references (called when Gradio deletes the session)."""
        self.own_model = None
        self.attention = None
        self.extras.clear()


@dataclass(frozen=True)
class OnLoad:
    """An event a tab wants run when a page opens (``demo.load``), e.g. to draw its first chips."""

    fn: Callable
    inputs: list
    outputs: list


def release_session(session: Session | None) -> None:
    """``gr.State(delete_callback=...)``: free a finished session's model and tensors."""
    if isinstance(session, Session):
        had_model = session.own_model is not None
        session.release()
        if had_model:
            trim_heap()


def trim_heap() -> None:
    """Hand freed heap pages back to the OS.

    glibc keeps the pages of freed mid-sized allocations (a fine-tuned model is
    hundreds of them), so without this the server's RSS stays high after the
    sessions that trained have gone (``bench/leaks.py``). No-op off glibc.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
