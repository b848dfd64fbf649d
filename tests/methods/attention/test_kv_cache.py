"""Tests for simrepro.methods.attention.kv_cache (H2O, KVCrush, baselines, masked vs real-cache decoding)."""

import numpy as np
import pytest
import torch

from simrepro.kernels.attention import softmax_attention
from simrepro.methods.attention import kv_cache as kc
from simrepro.models.tiny_transformer import TinyTransformer


def _scores(B=3, H=5, C=11, seed=0, ties=False):
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(B, H, C, generator=g, dtype=torch.float64)
    return (s * 4).round() / 4 if ties else s


@pytest.mark.parametrize("ties", [False, True])
def test_bits_fast_equals_reference(ties):
    s = _scores(ties=ties)
    cand = torch.rand(3, 11, generator=torch.Generator().manual_seed(1)) < 0.7
    cand[2] = False                                                  # a sequence with no candidates
    fast, ref = kc.head_behaviour_bits(s, cand), kc.head_behaviour_bits_reference(s, cand)
    assert torch.equal(fast, ref)
    assert (fast.sum(1) == (cand.sum(1) // 2)[:, None]).all()       # exactly half of the candidates per head
    assert fast[~cand].sum() == 0


@pytest.mark.parametrize("n_rep", [0, 1, 2, 3, 7, 20])
def test_representatives_fast_equals_reference(n_rep):
    g = torch.Generator().manual_seed(2)
    bits = torch.randint(0, 2, (4, 13, 6), generator=g, dtype=torch.uint8)
    elig = torch.rand(4, 13, generator=g) < 0.6
    elig[3] = False
    anc = kc.anchor_vector(bits, elig, "alternate")
    fast = kc.kvcrush_representatives(bits, anc, elig, n_rep)
    ref = kc.kvcrush_representatives_reference(bits, anc, elig, n_rep)
    assert torch.equal(fast, ref)
    assert (fast.sum(1) == torch.minimum(elig.sum(1), torch.tensor(n_rep))).all()
    assert not (fast & ~elig).any()


def test_representatives_span_the_distance_order():
    # 5 eligible tokens at Hamming distances 0..4 from the anchor 0000: 3 representatives = ranks 0, 2, 4
    bits = torch.tensor([[[0, 0, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]]], dtype=torch.uint8)
    anc = kc.anchor_vector(bits, torch.ones(1, 5, dtype=torch.bool), "zeros")
    keep = kc.kvcrush_representatives(bits, anc, torch.ones(1, 5, dtype=torch.bool), 3)
    assert keep[0].tolist() == [True, True, False, False, True]     # distances 0, 4 and 2


def test_anchors():
    bits = torch.tensor([[[1, 1, 0], [1, 0, 0], [0, 1, 0]]], dtype=torch.uint8)
    cand = torch.ones(1, 3, dtype=torch.bool)
    assert kc.anchor_vector(bits, cand, "alternate").tolist() == [[0, 1, 0]]
    assert kc.anchor_vector(bits, cand, "mean").tolist() == [[1, 1, 0]]
    assert kc.anchor_vector(bits, cand, "inv_mean").tolist() == [[0, 0, 1]]
    with pytest.raises(ValueError, match="gen"):
        kc.anchor_vector(bits, cand, "random")
    with pytest.raises(ValueError, match="anchor mode"):
        kc.anchor_vector(bits, cand, "median")


@pytest.mark.parametrize("policy", ["recent", "random", "h2o", "h2o+kvcrush", "full"])
@pytest.mark.parametrize("budget", [0, 1, 2, 5, 11])
def test_every_policy_keeps_exactly_the_budget(policy, budget):
    s = _scores(ties=True)
    keep = kc.select(policy, s, budget, gen=torch.Generator().manual_seed(0))
    assert keep.shape == (3, 11) and keep.dtype == torch.bool
    assert (keep.sum(1) == (11 if policy == "full" else budget)).all()


def test_h2o_keeps_recent_half_and_heavy_hitters():
    s = torch.zeros(1, 2, 10, dtype=torch.float64)
    s[0, 0, 2], s[0, 1, 5] = 5.0, 3.0
    keep = kc.select_h2o(s, 4)
    assert torch.nonzero(keep[0]).flatten().tolist() == [2, 5, 8, 9]
    crush = kc.select_kvcrush(s, 4)          # one representative, H2O keeps 3: position 2 and the recent 9
    assert crush[0, 2] and crush[0, 9] and crush.sum() == 4


def test_bad_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        kc.select_h2o(torch.full((1, 2, 3), float("nan")), 1)
    with pytest.raises(ValueError, match="budget"):
        kc.select_h2o(_scores(), 12)
    with pytest.raises(ValueError, match=r"\(B, H, C\)"):
        kc.select_h2o(torch.zeros(3, 4), 1)
    with pytest.raises(ValueError, match="policy"):
        kc.select("lru", _scores(), 2)
    assert kc.budget_tokens(0.125, 16) == 2 and kc.budget_tokens(0.01, 16) == 1 and kc.budget_tokens(0, 16) == 0


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyTransformer(20, 20, softmax_attention, d_model=16, n_heads=4, n_layers=2, d_ff=32, max_len=32,
                           causal=True, pool="none").eval()


def test_prefill_attention_rows_are_causal_distributions(model):
    tok = torch.randint(0, 20, (3, 9), generator=torch.Generator().manual_seed(0))
    att = kc.prefill_attention(model, tok, 7)
    assert len(att) == 2 and att[0].shape == (3, 4, 7, 7)
    torch.testing.assert_close(att[1].sum(-1), torch.ones(3, 4, 7, dtype=att[1].dtype))
    assert att[0].triu(1).abs().max() == 0
    assert model.blocks[0].attention is softmax_attention               # restored


def test_masked_forward_equals_real_cache_decoding(model):
    g = torch.Generator().manual_seed(1)
    tok = torch.randint(0, 20, (4, 13), generator=g)
    C = 9
    keep = torch.rand(4, 2, C, generator=g) < 0.5
    keep[0] = True                                                     # full cache row
    keep[1, 0] = False                                                 # layer 0 keeps nothing
    fast = kc.evicted_logits(model, tok, C, keep)[:, C:]
    ref = kc.evicted_logits_reference(model, tok, C, keep)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    full = model(tok)
    torch.testing.assert_close(kc.evicted_logits(model, tok, C, torch.ones(4, 2, C, dtype=torch.bool)), full)
    # the context positions never see the eviction
    torch.testing.assert_close(kc.evicted_logits(model, tok, C, keep)[:, :C], full[:, :C])
    with pytest.raises(ValueError, match="keep must be"):
        kc.evicted_logits(model, tok, C, keep[:, :1])


def test_recall_accuracy_ignores_unlabelled():
    logits = torch.zeros(1, 3, 4)
    logits[0, 1, 2] = 1.0
    logits[0, 2, 3] = 1.0
    assert kc.recall_accuracy(logits, torch.tensor([[-100, 2, 1]])) == 0.5


def test_even_ranks_truncate_like_torch_linspace_long():
    for m in range(1, 30):
        for n_rep in range(1, 12):
            got = kc._even_ranks(m, n_rep)
            if m <= n_rep:
                assert got == list(range(m))
            else:
                assert got == torch.linspace(0, m - 1, n_rep, dtype=torch.long).tolist() or n_rep == 1
