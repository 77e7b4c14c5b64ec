"""Find and load masked-LM encoders: the bundled default, a local folder, or a hub id.

Loading is safe and uniform:

- only ``AutoModelForMaskedLM`` checkpoints (BERT, RoBERTa, DistilBERT, ALBERT, ...);
- safetensors weights only (``use_safetensors=True``): a pickled ``.bin`` can run code;
- never ``trust_remote_code``: a checkpoint that needs its own Python is refused;
- ``attn_implementation="eager"``: transformers 5 returns no attention weights
  under the default SDPA kernels, and the app shows attention;
- fp32 (fp16 weights are slower on a CPU), ``.eval()``, GPU when there is one;
- a fast tokenizer, because offsets and word ids come from it.

A load that fails raises :class:`ModelLoadError` whose message is one sentence
a user can act on. Loaded models are cached and shared between callers (and
between the app's users), so nothing here or downstream may mutate them;
fine-tuning works on a copy.

This module does not tokenize text or run the model (see ``tokens.py`` and
``predict.py``).

Example::

    >>> lm = load_model("bert-base-uncased")          # doctest: +SKIP
    >>> lm.mask_token, lm.num_layers, lm.num_heads     # doctest: +SKIP
    ('[MASK]', 12, 12)
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

#: Repository root (the folder holding ``mlm_explorer/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The installed copy of ``assets/`` (``pyproject.toml`` ships it as package data under this name).
ASSETS_PACKAGE = "mlm_explorer_assets"


def find_assets() -> Path:
    """The bundled ``assets/`` folder: the checkout's, else the copy installed with the package.

    A checkout (or an editable install) has ``assets/`` beside ``mlm_explorer/``;
    ``pip install`` puts the same files in site-packages as ``mlm_explorer_assets``.
    Where neither exists, the checkout's path is returned (and loading says it is missing).
    """
    checkout = REPO_ROOT / "assets"
    if (checkout / "model" / "config.json").is_file():
        return checkout
    import importlib.util

    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "model" / "config.json").is_file():
            return Path(location)
    return checkout


#: Bundled sample texts and the bundled encoder (trained by ``pretrain.py``).
ASSETS_DIR = find_assets()
BUNDLED_MODEL_DIR = ASSETS_DIR / "model"
#: Where our pretraining and fine-tuning commands write models; listed as choices.
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
#: Environment variables: the default model, and the folder of local models.
MODEL_ENV = "MLM_EXPLORER_MODEL"
MODELS_DIR_ENV = "MLM_EXPLORER_MODELS_DIR"
#: Environment variable forcing a device ("cpu", "cuda", "cuda:1", ...).
DEVICE_ENV = "MLM_EXPLORER_DEVICE"

# How many distinct models stay loaded at once; a Space's visitors may try many hub ids.
_CACHE_SIZE = 4
# BERT vocabularies reserve "[unused0]".."[unused993]" placeholders (Devlin et al.'s
# vocab.txt); they are never seen in training, so a random replacement must not draw them.
_UNUSED_TOKEN = re.compile(r"^\[unused\d+\]$")


def unused_token_ids(tokenizer) -> list[int]:
    """Ids of BERT's ``[unusedN]`` placeholders in ``tokenizer``'s vocabulary (none elsewhere)."""
    return [i for t, i in tokenizer.get_vocab().items() if _UNUSED_TOKEN.match(t)]


class ModelLoadError(ValueError):
    """A model id or folder that cannot be used; ``str(err)`` is one user-facing line."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A masked LM ready for inference. Shared and cached: never mutate ``model``.

    ``eq=False`` keeps identity equality and hashing (the model is not a value).
    """

    name: str  # what the user asked for: a hub id or a folder path
    model: torch.nn.Module  # AutoModelForMaskedLM, .eval(), eager attention, fp32, on `device`
    tokenizer: object  # PreTrainedTokenizerFast (typed loosely to keep imports light)
    device: torch.device

    @property
    def config(self):
        """The model's ``PretrainedConfig``."""
        return self.model.config

    @property
    def mask_token(self) -> str:
        """The model's own mask token (``[MASK]`` for BERT, ``<mask>`` for RoBERTa)."""
        return self.tokenizer.mask_token

    @property
    def mask_token_id(self) -> int:
        return int(self.tokenizer.mask_token_id)

    @cached_property
    def max_length(self) -> int:
        """Longest input in tokens, special tokens included.

        The tokenizer's ``model_max_length`` is a huge sentinel when unset, and
        RoBERTa-style models reserve ``pad_token_id + 1`` position slots
        (``create_position_ids_from_input_ids`` in ``modeling_roberta.py``), so
        take the smaller of what the tokenizer and the position table allow.
        """
        limits = []
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            limits.append(tok_max)
        positions = getattr(self.config, "max_position_embeddings", None)
        if isinstance(positions, int) and positions > 0:
            if self.config.model_type in {"roberta", "xlm-roberta", "camembert", "longformer"}:
                positions -= (self.config.pad_token_id or 0) + 1
            limits.append(positions)
        return min(limits) if limits else 512

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        return int(self.config.num_attention_heads)

    @property
    def vocab_size(self) -> int:
        """Rows of the output layer (may exceed the tokenizer's size when padded)."""
        return int(self.config.vocab_size)

    @cached_property
    def special_ids(self) -> frozenset[int]:
        """Ids of all special tokens ([CLS], [SEP], [PAD], [UNK], [MASK], ...)."""
        ids = set(self.tokenizer.all_special_ids)
        ids.update(i for i, t in self.tokenizer.added_tokens_decoder.items() if t.special)
        return frozenset(ids)

    @cached_property
    def candidate_ids(self) -> torch.Tensor:
        """Ids a ``random`` replacement may draw: real tokens only.

        The vocabulary less special tokens and BERT's ``[unusedN]`` placeholders,
        restricted to ids both the tokenizer and the output layer know.
        """
        from mlm_explorer.masking import replacement_candidates

        size = min(len(self.tokenizer), self.vocab_size)
        return replacement_candidates(size, sorted(self.special_ids) + unused_token_ids(self.tokenizer))


@dataclass(frozen=True)
class LocalModel:
    """A ``save_pretrained`` folder found under the models directory."""

    name: str  # path relative to the models directory, e.g. "finetuned/run-1"
    path: Path


def is_valid_hub_id(s: str) -> bool:
    """True if ``s`` has the shape of a Hugging Face repo id (``name`` or ``owner/name``).

    Only the shape is checked (``huggingface_hub``'s own validator); whether it
    exists is known after trying to load it.
    """
    if not isinstance(s, str) or not s.strip() or s != s.strip():
        return False
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(s)
    except HFValidationError:
        return False
    return True


def default_model_name() -> str:
    """The default model, looked up in this order.

    1. ``$MLM_EXPLORER_MODEL`` (a folder or a hub id), if set;
    2. the checkout's ``assets/model`` (running from the repository);
    3. the copy installed with the package (``pip install``: package data).
    """
    return os.environ.get(MODEL_ENV, "").strip() or str(BUNDLED_MODEL_DIR)


def models_dir() -> Path:
    """``$MLM_EXPLORER_MODELS_DIR`` if set, else ``models/`` at the repository root."""
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else DEFAULT_MODELS_DIR


def is_model_folder(path: Path) -> bool:
    """True for a folder with a config and safetensors weights (a loadable checkpoint)."""
    return path.is_dir() and (path / "config.json").is_file() and _has_safetensors(path)


def list_local_models(models_dir_: Path | None = None, max_depth: int = 3) -> list[LocalModel]:
    """Every ``save_pretrained`` folder under ``models_dir_`` (default :func:`models_dir`).

    Looks ``max_depth`` levels down, so ``models/finetuned/run-1`` is found; a
    missing directory gives an empty list. Sorted by name.
    """
    root = Path(models_dir_) if models_dir_ is not None else models_dir()
    if not root.is_dir():
        return []
    found: list[LocalModel] = []

    def walk(folder: Path, depth: int) -> None:
        if is_model_folder(folder):
            found.append(LocalModel(name=folder.relative_to(root).as_posix() or folder.name, path=folder))
            return
        if depth >= max_depth:
            return
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        for child in children:
            walk(child, depth + 1)

    walk(root, 0)
    return sorted(found, key=lambda m: m.name)


def default_device() -> torch.device:
    """``$MLM_EXPLORER_DEVICE`` if set, else CUDA when available, else CPU."""
    env = os.environ.get(DEVICE_ENV, "").strip()
    if env:
        return torch.device(env)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# The cache and the loads in flight. `_cache_lock` guards these dicts only and is never held
# while a model loads: a request for a model already loaded never waits behind another
# visitor's load (a hub that is unreachable can take ~25 s of retries to fail).
_cache: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
_cache_lock = threading.Lock()
_inflight: dict[tuple[str, str], _Flight] = {}
# Recent failures of hub ids, answered at once instead of asking the hub again (no retry storm
# when a class keeps pressing "Load"). Folders are not remembered: their owner may fix them.
_failures: dict[tuple[str, str], tuple[float, ModelLoadError]] = {}
_FAILURE_TTL_S = 60.0


@dataclass
class _Flight:
    """One load in progress; callers asking for the same model wait for it (single flight)."""

    done: threading.Event = field(default_factory=threading.Event)
    result: LoadedModel | None = None
    error: BaseException | None = None


def load_model(
    name_or_path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> LoadedModel:
    """Load (or fetch from the cache) a masked LM by hub id or folder.

    ``None`` means the default (:func:`default_model_name`). Raises
    :class:`ModelLoadError` with a one-line reason when it cannot be used.
    Thread-safe: concurrent callers of the same model share one load and get
    the same object, and a load never delays callers of other models. A hub
    id that failed is refused from memory for a minute.
    """
    name = default_model_name() if name_or_path is None else str(name_or_path).strip()
    if not name:
        raise ModelLoadError("No model given: pass a folder or a Hugging Face id such as bert-base-uncased.")
    dev = torch.device(device) if device is not None else default_device()
    key = (_cache_key(name), str(dev))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        failed = _failures.get(key)
        if failed is not None and time.monotonic() - failed[0] < _FAILURE_TTL_S:
            raise failed[1]
        flight = _inflight.get(key)
        leader = flight is None
        if leader:
            flight = _inflight[key] = _Flight()
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.result
    try:
        lm = _load_uncached(name, dev, bundled=name_or_path is None)
    except BaseException as err:
        with _cache_lock:
            _inflight.pop(key, None)
            if isinstance(err, ModelLoadError) and not path_exists(name):
                _failures[key] = (time.monotonic(), err)
        flight.error = err
        flight.done.set()
        raise
    with _cache_lock:
        _cache[key] = lm
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        _inflight.pop(key, None)
        _failures.pop(key, None)
    flight.result = lm
    flight.done.set()
    return lm


def clear_cache() -> None:
    """Forget every loaded model and remembered failure (tests; freeing memory)."""
    global _hub_probe
    with _cache_lock:
        _cache.clear()
        _failures.clear()
        _hub_probe = None


# ---------------------------------------------------------------------------- is the hub reachable?

#: Environment variables under which huggingface_hub / transformers never touch the network.
OFFLINE_ENVS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROBE_TIMEOUT_S = 3.0  # one TCP connect; a reachable hub answers in well under a second
_PROBE_TTL_S = 60.0  # how long a probe's answer is trusted
_hub_probe: tuple[float, bool] | None = None
_probe_lock = threading.Lock()


def offline_by_setting() -> bool:
    """True when the operator switched the hub off (``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1``)."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in OFFLINE_ENVS)


def hub_reachable() -> bool:
    """Whether the Hugging Face hub answers, asked once a minute with one short TCP connect.

    huggingface_hub retries a failing request five times with back-off (~25 s) and
    transformers asks for several files, so without this an unreachable hub costs
    every load of a hub id half a minute; with it, the load fails at once and
    models already in the local cache still load (``local_files_only``).
    """
    global _hub_probe
    if offline_by_setting():
        return False
    with _probe_lock:  # one probe at a time; the others reuse its answer
        if _hub_probe is not None and time.monotonic() - _hub_probe[0] < _PROBE_TTL_S:
            return _hub_probe[1]
        ok = _probe_hub()
        _hub_probe = (time.monotonic(), ok)
        return ok


def _probe_hub() -> bool:
    from urllib.parse import urlparse

    from huggingface_hub import constants

    url = urlparse(os.environ.get("HF_ENDPOINT", "").strip() or constants.ENDPOINT)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return False
    answer: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    # A thread, because name resolution (getaddrinfo) ignores the socket timeout.
    worker = threading.Thread(target=connect, daemon=True, name="hub-probe")
    worker.start()
    worker.join(_PROBE_TIMEOUT_S + 0.5)
    return bool(answer and answer[0])


def path_exists(name: str | os.PathLike) -> bool:
    """``Path(name).expanduser().exists()``, but False instead of an error for names no OS accepts.

    ``Path.exists`` raises for a NUL byte (``ValueError``) and for names over the
    file system's limits (``OSError`` ENAMETOOLONG); both are just "not a folder" here.
    """
    try:
        return Path(name).expanduser().exists()
    except (OSError, ValueError):
        return False


def _cache_key(name: str) -> str:
    path = Path(name).expanduser()
    return str(path.resolve()) if path_exists(path) else name


def _has_safetensors(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file()


def _looks_like_path(name: str) -> bool:
    # "./x", "/x", "~/x" and "a/b/c" are folders the user meant; a hub id is "name" or "owner/name".
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _check_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json: it is not a save_pretrained model folder.")
    if not _has_safetensors(folder):
        raise ModelLoadError(
            f"{folder} has no safetensors weights (only safetensors are loaded, never pickled .bin files); "
            "re-save it with model.save_pretrained(folder, safe_serialization=True)."
        )


def _load_uncached(name: str, device: torch.device, bundled: bool) -> LoadedModel:
    folder = Path(name).expanduser()
    if path_exists(folder) and folder.is_dir():
        _check_folder(folder)
        source = str(folder)
    elif path_exists(folder):
        raise ModelLoadError(f"{name} is a file; give the folder that holds config.json and the weights.")
    elif bundled and name == str(BUNDLED_MODEL_DIR):
        raise ModelLoadError(
            "The bundled model is missing (neither the repository's assets/model nor an installed "
            f"{ASSETS_PACKAGE}); pass --model with a folder or a Hugging Face id such as "
            f"bert-base-uncased, or set {MODEL_ENV}."
        )
    elif _looks_like_path(name) or not is_valid_hub_id(name):
        shown = name if len(name) <= 100 else name[:100] + "…"
        raise ModelLoadError(f"Model not found: {shown!r} is neither a folder nor a valid Hugging Face id.")
    else:
        source = None
    local_only = source is None and not hub_reachable()
    source = name if source is None else source
    config = _load_config(source, name, local_only)
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        raise ModelLoadError(
            f"{name} is a {config.model_type!r} model, not a masked language model "
            "(try a BERT-style encoder such as bert-base-uncased or distilroberta-base)."
        )
    tokenizer = _load_tokenizer(source, name, local_only)
    model = _load_weights(source, name, local_only)
    model.to(device)
    model.eval()
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, device=device)


def _load_config(source: str, name: str, local_only: bool = False):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=local_only)
    except Exception as err:  # transformers raises OSError, ValueError, KeyError ... here
        if local_only:
            raise ModelLoadError(_offline_message(name)) from err
        raise ModelLoadError(_explain(err, name)) from err


def _offline_message(name: str) -> str:
    why = (
        "the Hugging Face hub is unreachable: this server runs offline (HF_HUB_OFFLINE)"
        if offline_by_setting()
        else "the Hugging Face hub is unreachable from this server"
    )
    return f"Could not fetch {name}: {why}, and the model is not in the local cache."


def _load_tokenizer(source: str, name: str, local_only: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, use_fast=True, trust_remote_code=False, local_files_only=local_only
        )
    except Exception as err:
        raise ModelLoadError(_explain(err, name)) from err
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{name} has no fast tokenizer (tokenizer.json), which is needed for offsets.")
    if tokenizer.mask_token is None:
        raise ModelLoadError(f"{name}'s tokenizer has no mask token, so it cannot fill in blanks.")
    return tokenizer


def _load_weights(source: str, name: str, local_only: bool = False):
    from transformers import AutoModelForMaskedLM

    try:
        return AutoModelForMaskedLM.from_pretrained(
            source,
            local_files_only=local_only,
            use_safetensors=True,  # never unpickle .bin weights
            trust_remote_code=False,  # never run a checkpoint's own Python
            attn_implementation="eager",  # SDPA returns no attention weights (transformers 5)
            dtype=torch.float32,  # fp16 matmuls are slow on CPUs; `torch_dtype` is deprecated in v5
        )
    except Exception as err:
        raise ModelLoadError(_explain(err, name)) from err


def _explain(err: Exception, name: str) -> str:
    """Turn a transformers / hub exception into one sentence a user can act on."""
    text = str(err)
    low = text.lower()
    if "trust_remote_code" in low or "custom code" in low:
        return f"{name} needs its own Python code (trust_remote_code), which is refused for safety."
    if "safetensors" in low or "use_safetensors" in low:
        return f"{name} has no safetensors weights; only safetensors checkpoints are loaded."
    if any(s in low for s in ("offline", "couldn't connect", "connection", "cached files")):
        return (
            f"Could not fetch {name}: the Hugging Face hub is unreachable (offline?) "
            "and the model is not in the local cache."
        )
    if any(s in low for s in ("not a valid model identifier", "repository not found", "404")):
        return f"Model not found: no model {name!r} on the Hugging Face hub."
    if "unrecognized" in low or "should have a `model_type`" in low:
        return f"{name} is not a model transformers can load as a masked language model."
    first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"Could not load {name}: {first_line[:200]}"
