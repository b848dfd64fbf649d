"""Tests for simrepro.methods.attention.head_sharing on a tiny random BertModel (no download needed)."""

import numpy as np
import pytest
import torch

from simrepro.methods.attention import head_sharing as hs


@pytest.fixture(scope="module")
def bert():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
                                  intermediate_size=16, max_position_embeddings=32)
    torch.manual_seed(0)
    return transformers.BertModel(cfg).eval()


def test_head_vectors_are_the_official_qk_blocks(bert):
    st, lay = bert.state_dict(), hs.bert_layout(bert)
    v = hs.head_vectors(st, lay)
    assert v.shape == (9, 2 * 4 * 12)
    wq, wk = st["encoder.layer.2.attention.self.query.weight"], st["encoder.layer.2.attention.self.key.weight"]
    expect = torch.cat([wq[4:8], wk[4:8]]).reshape(-1).double()       # layer 2, head 1
    assert torch.equal(v[lay.index(2, 1)], expect)


def test_best_match_fast_equals_loop_with_ties_and_irregular_layout():
    lay = hs.Layout(4, 3, 2)
    rng = np.random.default_rng(1)
    sim = np.round(rng.uniform(-1, 1, (12, 12)), 1)                     # coarse values: many ties
    sim = (sim + sim.T) / 2
    for mode in ("max", "min"):
        v, p = hs.best_earlier_match(sim, lay, mode)
        vr, pr = hs.best_earlier_match_reference(sim, lay, mode)
        assert np.array_equal(p, pr)
        np.testing.assert_array_equal(v, vr)
        assert (p[:3] == -1).all() and np.isnan(v[:3]).all()
        assert all(p[i] < (i // 3) * 3 for i in range(3, 12))          # partners always in an earlier layer


def test_similarity_is_cosine_and_rejects_nan():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    s = hs.head_similarity(x)
    assert s[0, 1] == pytest.approx(2 ** -0.5, abs=1e-12) and s[0, 2] == pytest.approx(0.0, abs=1e-12)
    lay = hs.Layout(2, 2, 1)
    bad = np.zeros((4, 4)); bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hs.best_earlier_match(bad, lay)
    with pytest.raises(ValueError, match="must be"):
        hs.best_earlier_match(np.zeros((3, 3)), lay)


def test_select_pairs_counts_and_strategies():
    lay = hs.Layout(3, 4, 2)
    rng = np.random.default_rng(0)
    sim = rng.uniform(-1, 1, (12, 12)); sim = (sim + sim.T) / 2
    assert hs.n_shared(0.25, lay) == 3 and hs.n_shared(0.0, lay) == 0
    sim_pairs = hs.select_pairs(sim, lay, 0.25, "similar")
    v, p = hs.best_earlier_match(sim, lay)
    top = sorted(range(4, 12), key=lambda i: -v[i])[:3]
    assert sim_pairs == [(i, int(p[i])) for i in top]
    least = hs.select_pairs(sim, lay, 0.25, "least")
    vmin, _ = hs.best_earlier_match(sim, lay, "min")
    assert [a for a, _ in least] == sorted(range(4, 12), key=lambda i: vmin[i])[:3]
    r = hs.select_pairs(sim, lay, 0.5, "random", np.random.default_rng(3))
    assert len(r) == 6 and len({a for a, _ in r}) == 6 and all(b < (a // 4) * 4 for a, b in r)
    with pytest.raises(ValueError, match="rng"):
        hs.select_pairs(sim, lay, 0.5, "random")
    with pytest.raises(ValueError, match="only 8"):
        hs.select_pairs(sim, lay, 0.9, "similar")
    with pytest.raises(ValueError, match="strategy"):
        hs.select_pairs(sim, lay, 0.5, "best")


def test_effective_pairs_follow_the_official_routing():
    # head 5 is replaced by 1 but is also the partner of 9: it keeps its own weights (direct_share.py 54-68)
    assert hs.effective_pairs([(5, 1), (9, 5), (10, 2)]) == [(9, 5), (10, 2)]
    with pytest.raises(ValueError, match="twice"):
        hs.effective_pairs([(5, 1), (5, 2)])
    with pytest.raises(ValueError, match="earlier"):
        hs.effective_pairs([(1, 5)])


def test_shared_state_dict_ties_all_four_matrices_and_counts(bert):
    st, lay = bert.state_dict(), hs.bert_layout(bert)
    pairs = [(lay.index(2, 0), lay.index(0, 1)), (lay.index(1, 2), lay.index(0, 0))]
    new = hs.shared_state_dict(st, lay, pairs)
    d = lay.head_dim
    for m in ("query", "key", "value"):
        w, b = f"encoder.layer.2.attention.self.{m}.weight", f"encoder.layer.2.attention.self.{m}.bias"
        src = f"encoder.layer.0.attention.self.{m}"
        assert torch.equal(new[w][0:d], st[src + ".weight"][d:2 * d])
        assert torch.equal(new[b][0:d], st[src + ".bias"][d:2 * d])
        assert torch.equal(new[w][d:], st[w][d:])                       # other heads untouched
    o = "encoder.layer.2.attention.output.dense.weight"
    assert torch.equal(new[o][:, 0:d], st["encoder.layer.0.attention.output.dense.weight"][:, d:2 * d])
    assert torch.equal(new["encoder.layer.2.attention.output.dense.bias"], st["encoder.layer.2.attention.output.dense.bias"])
    assert not torch.equal(st[o][:, 0:d], new[o][:, 0:d])              # the input was not modified in place
    assert hs.distinct_head_blocks(st, lay) - hs.distinct_head_blocks(new, lay) == 2
    assert hs.parameters_saved(2, lay) == 2 * (4 * 4 * 12 + 12)
    assert sum(t.numel() for t in st.values()) - sum(t.numel() for t in new.values()) == 0  # stored dense here
    with pytest.raises(KeyError, match="BertModel"):
        hs.shared_state_dict({"w": torch.zeros(1)}, lay, pairs)


def test_encode_is_mean_pooled_unit_norm_and_order_preserving(bert):
    class Tok:                                                          # whitespace tokenizer over a toy vocab
        def __call__(self, texts, padding, truncation, max_length, return_tensors):
            ids = [[1 + (hash(w) % 40) for w in t.split()][:max_length] or [0] for t in texts]
            n = max(map(len, ids))
            return {"input_ids": torch.tensor([i + [0] * (n - len(i)) for i in ids]),
                    "attention_mask": torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i in ids])}
    texts = ["a b c d e", "x", "a b", "q w e r t y u"]
    e = hs.encode(bert, Tok(), texts, batch_size=2)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    alone = hs.encode(bert, Tok(), [texts[3]])
    np.testing.assert_allclose(e[3], alone[0], atol=1e-5)                  # padding in a batch changes nothing
    assert hs.encode(bert, Tok(), []).shape == (0, 12)
    with pytest.raises(TypeError):
        hs.encode(bert, Tok(), "not a list")


def test_capability_measures():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(6, 4)); e /= np.linalg.norm(e, axis=1, keepdims=True)
    human = e @ e.T
    assert hs.lee_spearman(e, human) == pytest.approx(1.0)
    assert hs.lee_spearman(e, -human) == pytest.approx(-1.0)
    assert hs.fidelity(e, e) == pytest.approx(1.0) and hs.fidelity(e, -e) == pytest.approx(-1.0)
    r = hs.retrieval_scores(e, e)
    assert r["hit@1"] == pytest.approx(1.0) and r["mrr@10"] == pytest.approx(1.0)
    r2 = hs.retrieval_scores(e, e[::-1].copy())                       # doc i is at position 5 - i
    assert r2["hit@1"] <= 2 / 6
    with pytest.raises(ValueError):
        hs.retrieval_scores(e, e[:3])


def test_first_sentence_pairs():
    docs = ["First one here. Then the rest follows with enough words to keep it in the set.",
            "Only one sentence.", "It said so. Short rest."]
    f, r, kept = hs.first_sentence_pairs(docs, min_rest_words=5)
    assert kept == [0] and f == ["First one here."] and r[0].startswith("Then")
