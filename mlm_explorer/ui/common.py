"""What every tab shares: the model picker, resolving a session's model, errors, exports.

Model choices are *keys* (strings the API shows): ``"bundled"``, ``"default"``
(when the operator set ``MLM_EXPLORER_MODEL``), a preset hub id,
``"local:<name>"`` for a folder under ``models/``, ``SESSION_MODEL`` for this
session's fine-tuned model, or whatever a user loaded by name. A key is turned
into a model on every event through ``models.load_model``'s cache, so sessions
share loaded weights but never each other's choice.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from mlm_explorer import models
from mlm_explorer.models import LoadedModel, ModelLoadError
from mlm_explorer.ui.state import SESSION_MODEL, Session
from mlm_explorer.views import table_to_json

#: The classic checkpoints offered in the picker (and preloaded on a Space).
PRESETS: tuple[str, ...] = (
    "google-bert/bert-base-uncased",
    "distilbert/distilbert-base-uncased",
    "FacebookAI/roberta-base",
    "albert/albert-base-v2",
)
BUNDLED = "bundled"
DEFAULT = "default"
LOCAL_PREFIX = "local:"
#: Environment variable: "1" lets visitors load any folder of the server by path (tests, a
#: teacher's own machine). Off by default: on a Space a path would probe the server's disk.
ALLOW_LOCAL_ENV = "MLM_EXPLORER_ALLOW_LOCAL_PATHS"

#: How many model-running events (Predict, policy, re-roll, score) run at once, all kinds together:
#: a class of thirty pressing one button. Their forward passes meet in one inference worker
#: (``mlm_explorer.serving``), which runs them together in padded batches (and identical inputs
#: once), so a whole burst shares a few passes instead of queueing behind eight at a time
#: (bench/classroom.py). Memory is bounded by weight, not by this count: each request holds its
#: share of ``serving.admit``'s budget while its logits live, so large requests take turns.
INFERENCE_CONCURRENCY = 32
#: Keyword arguments for every model-running event: one shared concurrency group.
MODEL_EVENT = dict(concurrency_limit=INFERENCE_CONCURRENCY, concurrency_id="model-inference")
#: The Attention tab's event: every request keeps all of its layers x heads x T x T maps while the
#: figures are drawn (~75 MB for 512 tokens), so fewer of them run at once.
ATTENTION_CONCURRENCY = 8
ATTENTION_EVENT = dict(concurrency_limit=ATTENTION_CONCURRENCY, concurrency_id="attention")

# How many characters of user text a handler accepts: far more than any model's
# 512 tokens, small enough that tokenizing it cannot stall the server.
MAX_TEXT_CHARS = 5000


# ------------------------------------------------------------------ errors and text


def user_error(message: object) -> gr.Error:
    """A ``gr.Error`` for a user mistake; the toast renders HTML, so the text is escaped.

    ``gr.Error`` is a ``ValueError``, so the ``except ValueError as err: raise user_error(err)``
    of a handler also catches an error that a helper already made with this function: that one
    is passed on as it is (escaping it again would show ``&amp;#x27;`` and ``str()`` would add quotes).
    """
    if isinstance(message, gr.Error):
        return message
    return gr.Error(html.escape(str(message)), print_exception=False)


def toast_text(message: object) -> str:
    """Text for ``gr.Warning`` / ``gr.Info`` toasts, which render HTML: escaped, no Markdown escapes."""
    return html.escape(str(message))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(text: object) -> str:
    """Show ``text`` literally inside Markdown: HTML-escape it, backslash-escape Markdown.

    Only ``<``, ``>`` and ``&`` become entities: quotes are harmless in Markdown
    text, and an entity such as ``&#x27;`` would have its ``#`` backslash-escaped
    below and then reach the reader as the literal characters ``&#x27;``.
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def check_user_text(text: object, what: str = "text") -> str:
    """Return the text, or raise a ``gr.Error`` that says what to do."""
    if not isinstance(text, str) or not text.strip():
        raise user_error(f"The {what} is empty: type a sentence.")
    if len(text) > MAX_TEXT_CHARS:
        raise user_error(f"The {what} is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}.")
    return text


def shown(value: object, limit: int = 50) -> str:
    """A user's value quoted for a message, cut to ``limit`` characters: a message never echoes a page."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# No text reaches this many tokens (models stop at 512 to a few thousand): a larger number is a typo,
# and echoing it whole would print hundreds of digits.
MAX_POSITION = 100_000


def parse_positions(raw: object) -> list[int]:
    """Token positions typed as ``"3, 5 7"`` (or a list from the API) → sorted unique ints."""
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        parts = [str(p) for p in raw]
    else:
        parts = [p for p in re.split(r"[\s,;]+", str(raw).strip()) if p]
    try:
        values = sorted({int(p) for p in parts})
    except ValueError:
        raise user_error(f"Positions must be whole numbers such as 2, 5; got {shown(str(raw))}.") from None
    far = [v for v in values if not -MAX_POSITION <= v <= MAX_POSITION]
    if far:
        raise user_error(f"Position {shown(far[0], 20)} is outside any text: positions count tokens from 0.")
    return values


def format_positions(positions: list[int] | set[int]) -> str:
    return ", ".join(str(p) for p in sorted(positions))


# ------------------------------------------------------------------ model choices


def allow_local_paths() -> bool:
    return os.environ.get(ALLOW_LOCAL_ENV, "").strip().lower() in {"1", "true", "yes"}


def _operator_default() -> str | None:
    """``$MLM_EXPLORER_MODEL`` unless unset or naming the bundled folder itself."""
    env = os.environ.get(models.MODEL_ENV, "").strip()
    if not env or (Path(env).is_dir() and Path(env).resolve() == models.BUNDLED_MODEL_DIR.resolve()):
        return None
    return env


def default_key() -> str:
    """The picker value a new session starts with."""
    return DEFAULT if _operator_default() else BUNDLED


def new_session() -> Session:
    """A fresh session on the operator's default model."""
    return Session(model_key=default_key())


def model_choices(session: Session | None = None) -> list[tuple[str, str]]:
    """(label, key) pairs for the picker, in the order a user looks for them."""
    bundled_ok = models.is_model_folder(models.BUNDLED_MODEL_DIR)
    choices = [("Bundled model" + ("" if bundled_ok else " (missing)"), BUNDLED)]
    env = _operator_default()
    if env:
        choices.insert(0, (f"Default: {Path(env).name if Path(env).is_dir() else env}", DEFAULT))
    choices += [(p, p) for p in PRESETS]
    choices += [(f"models/{m.name}", LOCAL_PREFIX + m.name) for m in models.list_local_models()]
    if session is not None and session.own_model is not None:
        choices.append((f"Fine-tuned in this session: {session.own_label or 'model'}", SESSION_MODEL))
    if session is not None and session.model_key not in {k for _, k in choices}:
        choices.append((session.model_key, session.model_key))  # loaded by name
    return choices


def _source(key: str) -> str | None:
    """The ``load_model`` argument for a picker key (None = the operator's default)."""
    if key == DEFAULT:
        return None
    if key == BUNDLED:
        if not models.is_model_folder(models.BUNDLED_MODEL_DIR):
            raise ModelLoadError(
                "The bundled model (assets/model) is not installed on this server; "
                "pick a preset or another model above."
            )
        return str(models.BUNDLED_MODEL_DIR)
    if key.startswith(LOCAL_PREFIX):
        name = key[len(LOCAL_PREFIX):]
        for m in models.list_local_models():
            if m.name == name:
                return str(m.path)
        raise ModelLoadError(f"models/{name} is no longer there.")
    return key


def check_typed_name(name: str) -> str:
    """Vet a model name typed in the free field: a hub id, or a folder if the operator allows it."""
    name = (name or "").strip()
    if not name:
        raise ModelLoadError("Type a Hugging Face id such as google-bert/bert-base-uncased.")
    looks_local = models.path_exists(name) or name.startswith((".", "/", "~", "\\")) or "\\" in name
    if looks_local or not models.is_valid_hub_id(name):
        if not allow_local_paths():
            if looks_local or name.count("/") > 1:
                raise ModelLoadError(
                    "Loading folders of the server by path is switched off here "
                    f"(the operator can allow it with {ALLOW_LOCAL_ENV}=1); give a Hugging Face id."
                )
            raise ModelLoadError(
                f"{shown(name)} is not a valid Hugging Face id "
                "(owner/name, e.g. google-bert/bert-base-uncased)."
            )
    return name


def session_model(session: Session) -> LoadedModel:
    """The model this session uses; a ``gr.Error`` when it cannot be loaded."""
    if session.uses_own_model:
        if session.own_model is None:
            raise user_error("This session's fine-tuned model is gone; pick another model above.")
        return session.own_model
    try:
        return models.load_model(_source(session.model_key))
    except ModelLoadError as err:
        raise user_error(f"No model to run: {err}") from None


def load_key(key: str) -> LoadedModel:
    """Load the model behind a picker key (raises ``ModelLoadError``)."""
    return models.load_model(_source(key))


def display_name(lm: LoadedModel, key: str) -> str:
    """What to call the model in the UI: never a server path, only a folder's last part."""
    if key == SESSION_MODEL:
        return "the model fine-tuned in this session"
    path = Path(lm.name)
    if path.is_dir():
        if path.resolve() == models.BUNDLED_MODEL_DIR.resolve():
            return "the bundled model"
        return path.name
    return lm.name


def describe_model(lm: LoadedModel, key: str) -> str:
    """One Markdown line: which model, its size, its mask token."""
    params = sum(p.numel() for p in lm.model.parameters())
    return (
        f"Using **{md_escape(display_name(lm, key))}** ({md_escape(lm.config.model_type)}, {lm.num_layers} "
        f"layers × {lm.num_heads} heads, {_count(params)} parameters, up to {lm.max_length} tokens); "
        f"its mask token is `{lm.mask_token}`."
    )


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


# ------------------------------------------------------------------ disk budget

#: Environment variable: megabytes the app may keep on disk in its temporary folders
#: (Gradio's file cache, table exports, fine-tuned models and their zips); oldest files go first.
DISK_BUDGET_ENV = "MLM_EXPLORER_DISK_BUDGET_MB"
# 2 GB: about ten fine-tuned zips of the bundled model with Gradio's cached copies, on a Space
# whose free disk is tens of GB; a bert-base fine-tune is ~440 MB a copy, so it keeps two.
_DEFAULT_DISK_BUDGET_MB = 2000
# Files younger than this are never removed: they may be being written or downloaded.
_DISK_MIN_AGE_S = 120.0
#: Where fine-tuned models and their zips are written (the Fine-tune tab's output folder).
FINETUNED_DIR = Path(tempfile.gettempdir()) / "mlm-explorer-finetuned"
_EXPORT_DIR = Path(tempfile.gettempdir()) / "mlm-explorer-exports"


def disk_budget_bytes() -> int:
    """``$MLM_EXPLORER_DISK_BUDGET_MB`` (default 2,000) in bytes; at least 50 MB."""
    raw = os.environ.get(DISK_BUDGET_ENV, "").strip()
    try:
        mb = float(raw) if raw else _DEFAULT_DISK_BUDGET_MB
    except ValueError:
        mb = _DEFAULT_DISK_BUDGET_MB
    return int(max(50.0, mb) * 1e6)


def app_disk_dirs() -> tuple[Path, ...]:
    """The folders whose files count against the disk budget."""
    from gradio.utils import get_upload_folder

    return (Path(get_upload_folder()), _EXPORT_DIR, FINETUNED_DIR)


@dataclass(frozen=True)
class DiskSweep:
    """What :func:`enforce_disk_budget` found and did."""

    bytes_before: int
    bytes_after: int
    files_removed: int
    budget: int


_disk_lock = threading.Lock()


def enforce_disk_budget(budget: int | None = None, dirs: tuple[Path, ...] | None = None) -> DiskSweep:
    """Remove the oldest files of the app's folders until they hold at most ``budget`` bytes.

    ``budget`` defaults to :func:`disk_budget_bytes`; files younger than two
    minutes are kept even over budget (in use). Empty folders left behind are
    removed. Safe to call from any thread, as often as wanted (one sweep at a time).
    """
    budget = disk_budget_bytes() if budget is None else budget
    dirs = app_disk_dirs() if dirs is None else dirs
    with _disk_lock:
        files: list[tuple[float, int, Path]] = []
        for root in dirs:
            for path in _walk_files(root):
                try:
                    st = path.lstat()
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, path))
        total = before = sum(size for _, size, _ in files)
        removed = 0
        cutoff = time.time() - _DISK_MIN_AGE_S
        for mtime, size, path in sorted(files, key=lambda f: f[0]):
            if total <= budget or mtime > cutoff:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
            _remove_empty_parents(path.parent, dirs)
        return DiskSweep(bytes_before=before, bytes_after=total, files_removed=removed, budget=budget)


def _walk_files(root: Path):
    if not root.is_dir():
        return
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def _remove_empty_parents(folder: Path, roots: tuple[Path, ...]) -> None:
    while folder not in roots and any(r in folder.parents for r in roots):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            return
        folder = folder.parent


def start_disk_janitor(interval_s: float = 60.0) -> threading.Thread:
    """A daemon thread that applies the disk budget every ``interval_s`` seconds (``app.py`` starts it)."""

    def loop() -> None:
        while True:
            try:
                enforce_disk_budget()
            except Exception:  # noqa: BLE001 - housekeeping must never take the server down
                logging.getLogger("mlm_explorer").exception("disk budget sweep failed")
            time.sleep(interval_s)

    thread = threading.Thread(target=loop, name="disk-budget", daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------ exports

_EXPORT_MAX_AGE_S = 3600  # exports are one-shot downloads; an hour is plenty


#: The two export formats: file suffix → how a table becomes that file.
EXPORT_FORMATS = ("csv", "json")


def write_export(table: pd.DataFrame, stem: str, fmt: str) -> str:
    """Write ``table`` as one ``fmt`` ("csv" or "json") file for a download; returns its path.

    Files get unique names (sessions never see each other's exports) and are
    deleted after an hour, on a later export.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}.")
    _EXPORT_DIR.mkdir(parents=True, exist_ok=True)
    _prune_exports()
    path = _EXPORT_DIR / f"{stem}-{uuid.uuid4().hex[:10]}.{fmt}"
    if fmt == "csv":
        table.to_csv(path, index=False)
    else:
        path.write_text(table_to_json(table), encoding="utf-8")
    return str(path)


def write_exports(table: pd.DataFrame, stem: str) -> tuple[str, str]:
    """Write ``table`` as CSV and JSON files (see :func:`write_export`); returns their paths."""
    return write_export(table, stem, "csv"), write_export(table, stem, "json")


_PRUNE_EVERY_S = 60.0  # scanning the folder on every export cost more than the model pass under load
_last_prune = 0.0  # server-wide housekeeping time, not user data


def _prune_exports() -> None:
    global _last_prune
    now = time.time()
    if now - _last_prune < _PRUNE_EVERY_S:
        return
    _last_prune = now
    prune_older(_EXPORT_DIR, _EXPORT_MAX_AGE_S)


def prune_older(folder: Path, max_age_s: float) -> None:
    """Delete the files and folders directly in ``folder`` last changed over ``max_age_s`` ago."""
    cutoff = time.time() - max_age_s
    for f in folder.glob("*"):
        try:
            if f.stat().st_mtime < cutoff:
                shutil.rmtree(f) if f.is_dir() else f.unlink()
        except OSError:
            pass  # another worker removed it first
    enforce_disk_budget()


# A result only remembers its raw table; the files are written when someone presses a
# download button. Writing two files per result, Gradio copying them into its cache and
# rebuilding two DownloadButtons' config (pydantic schemas) cost about a quarter of the event
# loop's time in a class's Predict burst, for downloads almost nobody makes (issue 13).
_EXPORT_KEY = "export:"


def remember_export(session: Session, stem: str, table: pd.DataFrame) -> None:
    """Keep ``table`` (raw numbers, not the percent display) as this session's ``stem`` export."""
    session.extras[_EXPORT_KEY + stem] = table


def forget_export(session: Session, stem: str) -> None:
    """Drop the ``stem`` export (e.g. a new quiz round has nothing to download yet)."""
    session.extras.pop(_EXPORT_KEY + stem, None)


def remembered_export(session: Session, stem: str) -> pd.DataFrame | None:
    """This session's last ``stem`` table, or None before its first result."""
    return session.extras.get(_EXPORT_KEY + stem) if isinstance(session, Session) else None


def export_table(session: Session, *, stem: str, fmt: str, hint: str) -> str:
    """Write this session's last ``stem`` table as a ``fmt`` file, for the hidden download button."""
    table = remembered_export(session, stem)
    if table is None:
        raise user_error(f"Nothing to download yet: {hint} first.")
    return write_export(table, stem, fmt)


def _click_js(elem_id: str) -> str:
    """Browser code that presses the hidden download button once it holds the new file.

    The file arrives with the event's result; Svelte draws it on its next tick, so the click
    waits a frame (clicking at once would download the previous file, or nothing).
    """
    target = json.dumps(f"#{elem_id}")
    return (
        "() => { requestAnimationFrame(() => setTimeout(() => "
        f"document.querySelector({target})?.click(), 0)); }}"
    )


def download_buttons(
    session: gr.State, stem: str, hint: str, elem_prefix: str, *, formats: tuple[str, ...] = EXPORT_FORMATS,
    labels: dict[str, str] | None = None,
) -> dict[str, gr.Button]:
    """The "Download CSV" / "Download JSON" buttons of the ``stem`` table a result handler remembered.

    Each visible button writes the file on demand (``export_<stem>_<fmt>``, an undocumented API
    endpoint) into a visually hidden ``gr.DownloadButton`` and then clicks it, so the browser
    downloads. Element ids: ``<elem_prefix>-csv`` (visible), ``<elem_prefix>-csv-file`` (hidden).
    ``hint`` completes "Nothing to download yet: … first.", e.g. "press Predict".
    """
    labels = labels or {}
    buttons: dict[str, gr.Button] = {}
    with gr.Row():
        for fmt in formats:
            label = labels.get(fmt, f"Download {fmt.upper()}")
            button = gr.Button(label, size="sm", elem_id=f"{elem_prefix}-{fmt}")
            file = gr.DownloadButton(label, visible="hidden", elem_id=f"{elem_prefix}-{fmt}-file")
            written = button.click(
                functools.partial(export_table, stem=stem, fmt=fmt, hint=hint), [session], [file],
                api_name=f"export_{stem.replace('-', '_')}_{fmt}", api_visibility="undocumented",
                show_progress="hidden",
            )
            written.success(None, None, None, js=_click_js(f"{elem_prefix}-{fmt}-file"), api_name=False,
                             queue=False)
            buttons[fmt] = button
    return buttons
