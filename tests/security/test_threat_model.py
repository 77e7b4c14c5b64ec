"""One test (or a few) per rule of the threat model in SECURITY.md.

A public Space takes untrusted text, untrusted uploads and untrusted model
ids from anyone. Each test here would fail if its rule were dropped.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
import threading
from pathlib import Path

import pytest
import torch

from mlm_explorer import data, models, plots

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["<img src=x onerror=alert(1)>", "<b>bold</b>", "<script>alert(1)</script>", "<a href=x>x</a>",
           "&lt;b&gt;", "<br>"]


def weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@pytest.fixture()
def model_copy(tiny_bert_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, folder)
    return folder


# ------------------------------------------------------------------ untrusted model ids and folders


class _RunsCode:
    """A pickle that would create a file when unpickled (what a malicious .bin does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_remote_code_is_never_run(model_copy: Path, tmp_path: Path):
    marker = tmp_path / "remote-code-ran"
    (model_copy / "modeling_evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import BertForMaskedLM as EvilForMaskedLM\n"
    )
    (model_copy / "configuration_evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import BertConfig as EvilConfig\n"
    )
    config = json.loads((model_copy / "config.json").read_text())
    config.update(
        model_type="evil",
        auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                  "AutoModelForMaskedLM": "modeling_evil.EvilForMaskedLM"},
    )
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(models.ModelLoadError) as err:
        models.load_model(model_copy, device="cpu")
    assert "\n" not in str(err.value)
    assert not marker.exists(), "the checkpoint's own Python ran"


def test_auto_map_on_a_known_architecture_loads_without_running_its_code(model_copy: Path, tmp_path: Path):
    marker = tmp_path / "remote-code-ran"
    (model_copy / "modeling_evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    config = json.loads((model_copy / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_evil.EvilForMaskedLM"}
    (model_copy / "config.json").write_text(json.dumps(config))
    try:
        lm = models.load_model(model_copy, device="cpu")
        assert type(lm.model).__module__.startswith("transformers.")
    except models.ModelLoadError:
        pass  # refusing is fine too; running the file is not
    assert not marker.exists()


def test_pickled_weights_are_refused_and_never_unpickled(model_copy: Path, tmp_path: Path):
    marker = tmp_path / "pickle-ran"
    for f in model_copy.glob("*.safetensors"):
        f.unlink()
    (model_copy / "pytorch_model.bin").write_bytes(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(models.ModelLoadError, match="safetensors"):
        models.load_model(model_copy, device="cpu")
    assert not marker.exists(), "a pickled checkpoint was unpickled"
    assert not models.is_model_folder(model_copy)  # and the picker never offers it


@pytest.mark.parametrize(
    "name",
    ["../../etc", "/etc/passwd", "/etc", "~/.ssh", "..\\..\\windows\\system32", "a/b/c", "file:///etc/passwd",
     "./assets/model", "http://169.254.169.254/latest", "owner/name\x00", "owner//name", "-rf", "a" * 200],
)
def test_traversal_and_malformed_ids_are_refused(name: str, monkeypatch):
    gr = pytest.importorskip("gradio")  # noqa: F841 - the app's own check lives in the UI layer
    from mlm_explorer.ui import common

    monkeypatch.delenv(common.ALLOW_LOCAL_ENV, raising=False)
    with pytest.raises(models.ModelLoadError) as err:
        common.check_typed_name(name)
    assert "switched off" in str(err.value) or "not a valid Hugging Face id" in str(err.value)


@pytest.mark.parametrize(
    "name", ["google-bert/bert-base-uncased", "bert-base-uncased", "FacebookAI/roberta-base"]
)
def test_real_hub_ids_pass_the_check(name: str, monkeypatch):
    pytest.importorskip("gradio")
    from mlm_explorer.ui import common

    monkeypatch.delenv(common.ALLOW_LOCAL_ENV, raising=False)
    assert common.check_typed_name(name) == name
    assert models.is_valid_hub_id(name)


def test_local_folders_load_only_when_the_operator_allows(tiny_bert_dir: Path, monkeypatch):
    pytest.importorskip("gradio")
    from mlm_explorer.ui import common

    monkeypatch.delenv(common.ALLOW_LOCAL_ENV, raising=False)
    with pytest.raises(models.ModelLoadError, match="switched off"):
        common.check_typed_name(str(tiny_bert_dir))
    monkeypatch.setenv(common.ALLOW_LOCAL_ENV, "1")
    assert common.check_typed_name(str(tiny_bert_dir)) == str(tiny_bert_dir)


# ------------------------------------------------------------------ untrusted uploads


def test_upload_size_type_and_binary_limits(tmp_path: Path):
    import app

    assert app.launch_options()["max_file_size"] == "5mb"  # Gradio's own default is no limit
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (data.MAX_BYTES + 1))
    with pytest.raises(data.DataError, match="limit"):
        data.read_file(big)
    for name in ["evil.exe", "model.bin", "page.html", "x.pkl", "data.txt.sh"]:
        with pytest.raises(data.DataError, match="unsupported file type"):
            data.read_bytes(b"hello", name)
    with pytest.raises(data.DataError, match="binary"):
        data.read_bytes(b"ELF\x00\x01\x02", "data.txt")
    assert data.read_bytes(b"the cat", "../../etc/passwd.txt").source == "passwd.txt"  # no folders kept


# ------------------------------------------------------------------ untrusted text never becomes markup


def _figure_strings(fig) -> str:
    return json.dumps(fig.to_plotly_json(), default=str)


def test_plot_labels_neutralise_markup():
    fig_bars = plots.topk_bars_grid(
        [plots.BarPanel(tokens=HOSTILE, probs=[0.3, 0.2, 0.1, 0.1, 0.1, 0.1], original=HOSTILE[0],
                        original_prob=0.3, original_rank=1, title=HOSTILE[1])]
    )
    n = len(HOSTILE)
    heat = plots.attention_heatmap(torch.full((n, n), 1.0 / n).numpy(), HOSTILE, [True] + [False] * (n - 1))
    strip = plots.pll_strip(HOSTILE, [-1.0] * n)
    for fig in (fig_bars, heat, strip):
        text = _figure_strings(fig)
        # (the figures' own <b>/<span> marking of the original token is ours, not the user's)
        for tag in ("<img", "<b>bold", "<script", "<a href", "<br>"):
            assert tag not in text, f"{tag} reached a plotly label"
        assert "&lt;b&gt;" not in text or "&amp;lt;" in text  # entities are escaped, not un-escaped by plotly


def test_markdown_and_toasts_escape_user_text():
    pytest.importorskip("gradio")
    from mlm_explorer.ui import common

    for s in HOSTILE:
        assert "<" not in common.md_escape(s)
        assert "<" not in common.user_error(s).message


# ------------------------------------------------------------------ the launched app: files, isolation


@pytest.fixture(scope="module")
def server(tiny_bert_dir: Path):
    pytest.importorskip("gradio")
    from tests.app_server import running_app

    with running_app(tiny_bert_dir, allow_local_paths=True) as url:
        yield url


@pytest.mark.parametrize(
    "path",
    ["gradio_api/file=/etc/passwd", "file=/etc/passwd", "gradio_api/file=../../../../etc/passwd",
     "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd", "gradio_api/file=/proc/self/environ",
     "gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd", "gradio_api/file=//etc/passwd",
     "gradio_api/file={repo}/app.py", "gradio_api/file={repo}/mlm_explorer/models.py",
     "gradio_api/file={model}/config.json", "static/../../../../etc/passwd", "assets/../../../etc/passwd",
     "gradio_api/file=/tmp/../etc/passwd"],
)
def test_no_file_outside_the_app_is_served(server: str, path: str, tiny_bert_dir: Path):
    import httpx

    url = server.rstrip("/") + "/" + path.format(repo=ROOT, model=tiny_bert_dir)
    response = httpx.get(url, follow_redirects=True, timeout=30)
    body = response.text
    assert response.status_code != 200 or not (
        "root:" in body or "import gradio" in body or "def load_model" in body or '"model_type"' in body
        or "PATH=" in body
    ), f"{path} served a server file"


def test_oversized_upload_is_rejected_by_the_server(server: str):
    import httpx

    files = {"files": ("big.txt", b"x" * (5 * 1024 * 1024 + 1024), "text/plain")}
    response = httpx.post(server.rstrip("/") + "/gradio_api/upload", files=files, timeout=60)
    assert response.status_code in (400, 413), response.status_code


@pytest.mark.slow
def test_sessions_keep_their_own_models_and_the_base_stays_identical(server: str, tiny_bert_dir: Path,
                                                                     tiny_roberta_dir: Path):
    from gradio_client import Client

    base = models.load_model(tiny_bert_dir)
    before = weights_hash(base.model)
    file_hash = hashlib.sha256((tiny_bert_dir / "model.safetensors").read_bytes()).hexdigest()
    trainer, roberta, bystander = (Client(server, verbose=False) for _ in range(3))
    roberta.predict(str(tiny_roberta_dir), api_name="/load_model")
    sentence = "the cat sat on the [MASK] ."
    args = (sentence, "", 5, False, "independent (one pass)")
    reference = bystander.predict(*args, api_name="/predict")[1]["data"]
    outcome: dict[str, object] = {}

    def train() -> None:
        pasted = "\n".join(["the cat sat on the hat ."] * 40)
        job = trainer.submit("Paste text", None, None, pasted, "", "Current model", 30, 0.01, 0.3, 0, 8, 60,
                             sentence, api_name="/finetune_start")
        outcome["train"] = job.result(timeout=300)
        trainer.predict(api_name="/finetune_use")
        outcome["trained"] = trainer.predict(*args, api_name="/predict")[1]["data"]

    def watch(name: str, client) -> None:
        outcome[name] = [client.predict(*args, api_name="/predict")[1]["data"] for _ in range(5)]

    threads = [threading.Thread(target=train), threading.Thread(target=watch, args=("bystander", bystander)),
               threading.Thread(target=watch, args=("roberta", roberta))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(rows == reference for rows in outcome["bystander"]), "another session's training leaked"
    assert all(rows[0][2] == "<mask>" for rows in outcome["roberta"])  # its own model throughout
    assert outcome["trained"] != reference, "the trainer does not see its fine-tuned model"
    assert bystander.predict(*args, api_name="/predict")[1]["data"] == reference
    assert weights_hash(models.load_model(tiny_bert_dir).model) == before
    assert hashlib.sha256((tiny_bert_dir / "model.safetensors").read_bytes()).hexdigest() == file_hash


# ------------------------------------------------------------------ pinned, recent Gradio


def test_gradio_is_pinned_recent_and_matches_the_space():
    reqs = (ROOT / "requirements.txt").read_text()
    pin = re.search(r"^gradio==(\d+)\.(\d+)\.(\d+)\s*$", reqs, re.MULTILINE)
    assert pin, "gradio must be pinned to an exact version (security fixes are not back-ported)"
    assert (int(pin[1]), int(pin[2])) >= (5, 31), "pin a recent Gradio"
    version = ".".join(pin.groups())
    assert f"sdk_version: {version}" in (ROOT / "README.md").read_text()  # the Space runs the same
    gradio = pytest.importorskip("gradio")
    assert gradio.__version__ == version
