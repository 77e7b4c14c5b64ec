"""The inference worker: concurrent requests share forward passes and get the answers they would alone."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from mlm_explorer import predict as predict_module
from mlm_explorer import serving
from mlm_explorer.models import load_model
from mlm_explorer.predict import attention_for_text, forward, predict, pseudo_log_likelihood
from mlm_explorer.serving import InferenceWorker, ServingConfig
from mlm_explorer.tokens import encode

TEXTS = [
    "the [MASK] sat on the mat .",
    "paris is the [MASK] of france and a beautiful city in the [MASK] .",
    "[MASK] .",
    "the keys to the cabinet are on the [MASK] table in the morning .",
]


@pytest.fixture()
def slow_worker(monkeypatch) -> InferenceWorker:
    """A worker that waits long enough for every thread of a test burst to join one batch."""
    worker = InferenceWorker(ServingConfig(window_s=0.3))
    monkeypatch.setattr(serving, "_worker", worker)
    return worker


def _burst(fns: list) -> list:
    """Run every function on its own thread, released together; results in order."""
    barrier = threading.Barrier(len(fns))
    results: list = [None] * len(fns)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fns[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_worker_groups_by_key_and_bounds_batches() -> None:
    worker = InferenceWorker(ServingConfig(window_s=0.2, max_rows=4))
    seen: list[list] = []

    def run(items):
        seen.append(list(items))
        return [x * 10 for x in items]

    out = _burst([lambda i=i: worker.call("ab"[i % 2], run, i, rows=1, length=3) for i in range(10)])
    assert out == [i * 10 for i in range(10)]
    assert all(len(group) <= 4 for group in seen)
    assert all(len({i % 2 for i in group}) == 1 for group in seen)  # keys never mixed
    assert len(seen) < 10  # the burst shared passes


def test_worker_passes_errors_to_every_caller() -> None:
    worker = InferenceWorker(ServingConfig(window_s=0.0))

    def run(items):
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        worker.call("k", run, 1)
    assert worker.call("k", lambda items: items, 7) == 7  # the worker survives


def test_batched_answers_equal_single_ones(tiny_model_dir, slow_worker) -> None:
    lm = load_model(tiny_model_dir)
    texts = [t.replace("[MASK]", lm.mask_token) for t in TEXTS]
    alone = [predict_module._run_items([_item(lm, t)], lm, True)[0] for t in texts]
    together = _burst([lambda t=t: forward(lm, encode(lm, t).input_ids, with_attentions=True) for t in texts])
    assert slow_worker.passes < len(texts)  # they really shared a pass
    for (logits, attentions), out in zip(alone, together, strict=True):
        assert torch.allclose(out.logits, logits, atol=1e-5, rtol=0)
        assert all(torch.allclose(a, b, atol=1e-5, rtol=0) for a, b in zip(out.attentions, attentions,
                                                                             strict=True))


def test_every_endpoint_kind_agrees_under_a_burst(tiny_model_dir, monkeypatch) -> None:
    lm = load_model(tiny_model_dir)
    texts = [t.replace("[MASK]", lm.mask_token) for t in TEXTS]
    sentences = [t.replace(lm.mask_token, "cat") for t in texts]
    monkeypatch.setenv(serving.BATCHING_ENV, "0")
    single_preds = [predict(lm, t) for t in texts]
    single_scores = [pseudo_log_likelihood(lm, s) for s in sentences]
    single_attn = [attention_for_text(lm, t)[0] for t in texts]
    monkeypatch.setenv(serving.BATCHING_ENV, "1")
    worker = InferenceWorker(ServingConfig(window_s=0.3))
    monkeypatch.setattr(serving, "_worker", worker)
    fns = (
        [lambda t=t: predict(lm, t) for t in texts]
        + [lambda s=s: pseudo_log_likelihood(lm, s) for s in sentences]
        + [lambda t=t: attention_for_text(lm, t)[0] for t in texts]
    )
    out = _burst(fns)
    n = len(texts)
    assert worker.passes < worker.items
    for a, b in zip(single_preds, out[:n], strict=True):
        for pa, pb in zip(a.predictions, b.predictions, strict=True):
            assert [c.id for c in pa.top_k] == [c.id for c in pb.top_k]
            assert max(abs(x.prob - y.prob) for x, y in zip(pa.top_k, pb.top_k, strict=True)) <= 1e-5
            assert abs(pa.entropy - pb.entropy) <= 1e-5
    for a, b in zip(single_scores, out[n : 2 * n], strict=True):
        assert abs(a.pll - b.pll) <= 1e-5 * max(1.0, abs(a.pll))
        assert all(abs(x - y) <= 1e-5 for x, y in zip(a.token_log_probs, b.token_log_probs, strict=True)
                   if x is not None)
    for a, b in zip(single_attn, out[2 * n :], strict=True):
        assert abs(a.array - b.array).max() <= 1e-5


def test_long_inputs_are_split_to_bound_memory(tiny_bert_dir, monkeypatch) -> None:
    lm = load_model(tiny_bert_dir)
    worker = InferenceWorker(ServingConfig(window_s=0.0, max_cells=20 * 20 * 4))
    monkeypatch.setattr(serving, "_worker", worker)
    sentence = "the cat sat on the mat and the dog sat on the floor ."
    score = pseudo_log_likelihood(lm, sentence)
    monkeypatch.setenv(serving.BATCHING_ENV, "0")
    assert abs(pseudo_log_likelihood(lm, sentence).pll - score.pll) <= 1e-5
    assert worker.passes >= score.n_scored // 4  # at most 4 copies of ~16 tokens a pass


def test_training_yields_to_queued_inference() -> None:
    worker = InferenceWorker(ServingConfig(window_s=0.0))
    started = threading.Event()

    def run(items):
        started.set()
        time.sleep(0.3)
        return items

    t = threading.Thread(target=worker.call, args=("k", run, 1))
    t.start()
    started.wait(5)
    assert worker.busy()
    t0 = time.perf_counter()
    assert worker.wait_idle(5)
    assert 0.1 < time.perf_counter() - t0 < 2
    assert not worker.busy()
    t.join()
    t0 = time.perf_counter()
    serving.yield_to_inference()  # nothing queued: returns at once
    assert time.perf_counter() - t0 < 0.05


def _item(lm, text):
    ids = torch.tensor([encode(lm, text).input_ids])
    cols = torch.arange(ids.shape[1])
    return ids, torch.zeros_like(cols), cols


def test_threads_are_sized_to_the_cores(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(serving.THREADS_ENV, "3")
        assert serving.configure_threads() == 3 and torch.get_num_threads() == 3
        monkeypatch.delenv(serving.THREADS_ENV)
        monkeypatch.setattr(serving, "available_cores", lambda: 2)
        assert serving.configure_threads() == 1  # one core for the model, one for the server
        monkeypatch.setattr(serving, "available_cores", lambda: 1)
        assert serving.configure_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_identical_items_of_a_burst_run_once(tiny_model_dir, monkeypatch) -> None:
    lm = load_model(tiny_model_dir)
    text = "the [MASK] sat on the mat .".replace("[MASK]", lm.mask_token)
    other = "paris is the [MASK] of france .".replace("[MASK]", lm.mask_token)
    ran: list[int] = []
    real = predict_module._run_unique

    def counting(items, lm, with_attentions):
        ran.append(len(items))
        return real(items, lm, with_attentions)

    monkeypatch.setattr(predict_module, "_run_unique", counting)
    items = [_item(lm, text), _item(lm, other), _item(lm, text), _item(lm, text)]
    out = predict_module._run_items(items, lm, True)
    assert ran == [2]  # three copies of one input ran as one
    alone = real([_item(lm, text)], lm, True)[0]
    for i in (0, 2, 3):
        assert torch.allclose(out[i][0], alone[0], atol=1e-5, rtol=0)
    assert not torch.allclose(out[1][0], alone[0])
    # A session keeps its attention maps: twins must not share one tensor.
    assert out[0][1][0].data_ptr() != out[2][1][0].data_ptr() != out[3][1][0].data_ptr()
    assert torch.equal(out[0][1][0], out[2][1][0])


def test_cost_gate_admits_by_weight() -> None:
    gate = serving.CostGate(budget=10)
    inside: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def hold(cost: int) -> None:
        with gate.admit(cost):
            with lock:
                inside.append(cost)
                peak[0] = max(peak[0], gate.in_use)
            time.sleep(0.05)

    _burst([lambda: hold(1) for _ in range(10)])  # ten small ones fit together
    assert peak[0] == 10
    peak[0] = 0
    _burst([lambda: hold(6) for _ in range(3)])  # large ones take turns
    assert peak[0] == 6
    _burst([lambda: hold(50)])  # larger than the budget: runs alone, never refused
    assert gate.in_use == 0
    with pytest.raises(RuntimeError):
        with gate.admit(7):
            raise RuntimeError("handler failed")
    assert gate.in_use == 0  # released on errors too


def test_requests_declare_what_they_hold(tiny_model_dir, monkeypatch) -> None:
    lm = load_model(tiny_model_dir)
    costs: list[int] = []

    class Recording(serving.CostGate):
        def admit(self, cost):
            costs.append(cost)
            return super().admit(cost)

    monkeypatch.setattr(serving, "_gate", Recording(2**30))
    text = "the [MASK] sat on the [MASK] .".replace("[MASK]", lm.mask_token)
    predict(lm, text, with_attentions=True)
    n = len(encode(lm, text))
    config = lm.model.config
    maps = config.num_hidden_layers * config.num_attention_heads * n * n * 4
    assert costs == [2 * lm.vocab_size * 4 + maps]
    costs.clear()
    score = pseudo_log_likelihood(lm, "the cat sat on the mat .")
    assert costs == [score.n_scored * lm.vocab_size * 4]


def test_a_pair_is_scored_in_one_round_of_passes(tiny_model_dir, slow_worker) -> None:
    lm = load_model(tiny_model_dir)
    pair = ["the keys to the cabinet are here .", "the keys to the cabinet is here ."]
    together = predict_module.pseudo_log_likelihoods(lm, pair)
    assert slow_worker.passes == 1 and slow_worker.items == 2  # both sentences' copies in one pass
    for text, score in zip(pair, together, strict=True):
        alone = pseudo_log_likelihood(lm, text)
        assert abs(alone.pll - score.pll) <= 1e-5 * max(1.0, abs(alone.pll))
        assert alone.tokens == score.tokens
    with pytest.raises(ValueError, match="remove the mask"):  # every text is checked before any runs
        predict_module.pseudo_log_likelihoods(lm, [pair[0], f"the {lm.mask_token} ."])
    assert slow_worker.passes == 1 + 2  # the two single scores above, nothing for the refused pair


def test_large_passes_use_every_core_and_restore_the_count(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setattr(serving, "available_cores", lambda: 2)
        with serving.all_cores():
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
        with serving.all_cores(enabled=False):
            assert torch.get_num_threads() == 1
        with pytest.raises(RuntimeError), serving.all_cores():
            raise RuntimeError("a failed pass")
        assert torch.get_num_threads() == 1  # restored on errors too
    finally:
        torch.set_num_threads(before)
