"""SimLM pre-training (replaced LM through a [CLS] bottleneck): masks, losses against loops, the bottleneck
property, training determinism, fine-tuning, retrieval metrics and the data builders."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from simrepro.methods.retrieval import simlm as sl

TOY = ["the cat sat on the mat", "a dog ran in the park", "the sun is a star", "birds fly over the sea",
       "a cat and a dog", "the park is green", "stars shine at night", "the sea is blue and deep"] * 6


@pytest.fixture(scope="module")
def voc():
    return sl.train_wordpiece(TOY, 80)


def test_wordpiece_specials_first_and_deterministic(voc):
    assert voc.itos[:5] == list(sl.SPECIALS)
    assert len(voc) <= 80 and len(set(voc.itos)) == len(voc)
    assert sl.train_wordpiece(TOY, 80).itos == voc.itos
    with pytest.raises(ValueError, match="vocab_size"):
        sl.train_wordpiece(TOY, 10)
    with pytest.raises(ValueError, match="no text"):
        sl.train_wordpiece([], 100)


def test_ids_framing_and_truncation(voc):
    ids = voc.encode(["the cat sat on the mat", ""], 5)
    assert ids[0][0] == sl.CLS and ids[0][-1] == sl.SEP and len(ids[0]) == 5
    assert list(ids[1]) == [sl.CLS, sl.SEP]
    assert voc.encode(["zebra"], 10)[0].tolist().count(sl.UNK) <= 1
    with pytest.raises(ValueError, match="max_len"):
        voc.encode(["a"], 2)
    with pytest.raises(TypeError):
        voc.encode("a cat", 8)


def test_pad_batch_irregular():
    b = sl.pad_batch([np.array([2, 7, 3]), np.array([2, 3])])
    assert b.tolist() == [[2, 7, 3], [2, 3, 0]]
    with pytest.raises(ValueError):
        sl.pad_batch([])


def _ids(B=200, n=30, V=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(3, n + 1, (B,), generator=g)
    seqs = [np.array([sl.CLS] + torch.randint(5, V, (int(m) - 2,), generator=g).tolist() + [sl.SEP]) for m in lens]
    return sl.pad_batch(seqs)


def test_masks_never_touch_specials_and_have_the_rates():
    ids = _ids()
    me, md = sl.simlm_masks(ids, 0.3, 0.5, torch.Generator().manual_seed(1))
    ok = sl.maskable(ids)
    assert not (me & ~ok).any() and not (md & ~ok).any()
    assert (md | ~me).all()                                  # M_d ⊇ M_e
    n = ok.sum().item()
    for m, p in ((me, 0.3), (md, 0.5)):                      # 4 binomial standard deviations (+ the ≥1 rule)
        assert abs(m.sum().item() / n - p) < 4 * np.sqrt(p * (1 - p) / n) + 200 / n
    assert me.any(1).all()                                   # every row with a maskable token has one masked
    with pytest.raises(ValueError):
        sl.sample_mask(ids, 0.0, torch.Generator())
    with pytest.raises(ValueError):
        sl.simlm_masks(ids, 0.5, 0.3, torch.Generator())


def test_rlm_loss_equals_loop_reference():
    ids = _ids(B=5, n=9, V=20, seed=3)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(*ids.shape, 20, generator=g, dtype=torch.float64)
    ok = sl.maskable(ids)
    vec = F.cross_entropy(logits[ok], ids[ok])
    torch.testing.assert_close(vec, sl.rlm_loss_reference(logits, ids), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="maskable"):
        sl.rlm_loss_reference(logits[:, :1], ids[:, :1])


def test_decoder_sees_encoder_only_through_cls():
    torch.manual_seed(0)
    pre = sl.SimLMPretrainer(sl.TinyBert(50, 32, 2, 4, 64))
    ids = _ids(B=6, n=12, V=50)
    assert sl.bottleneck_leak(pre, ids) == 0.0


def test_bottleneck_leak_detects_a_leaky_decoder():
    torch.manual_seed(0)
    pre = sl.SimLMPretrainer(sl.TinyBert(50, 32, 2, 4, 64), pool="mean")
    assert sl.bottleneck_leak(pre, _ids(B=6, n=12, V=50)) > 1e-6
    with pytest.raises(ValueError, match="pool"):
        sl.SimLMPretrainer(sl.TinyBert(50, 32, 2, 4, 64), pool="max")


def _seqs(voc):
    return voc.encode(TOY, 16)


def test_pretrain_random_is_seeded_init_and_variants_check(voc):
    a, _ = sl.pretrain("random", [], len(voc), steps=5, seed=4, d=32, heads=4, max_len=32)
    b, h = sl.pretrain("random", [], len(voc), steps=5, seed=4, d=32, heads=4, max_len=32)
    assert h["loss"] == []
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="variant"):
        sl.pretrain("electra", _seqs(voc), len(voc), steps=1)
    with pytest.raises(ValueError, match="corpus"):
        sl.pretrain("mlm", [], len(voc), steps=1)


@pytest.mark.parametrize("variant", ["mlm", "simlm"])
def test_pretrain_learns_and_is_deterministic(voc, variant):
    kw = dict(steps=60, batch=16, lr=3e-3, warmup=5, seed=1, d=32, heads=4, max_len=32, log_every=1)
    e1, h1 = sl.pretrain(variant, _seqs(voc), len(voc), **kw)
    e2, h2 = sl.pretrain(variant, _seqs(voc), len(voc), **kw)
    assert h1["loss"] == h2["loss"]
    assert np.mean(h1["loss"][-10:]) < 0.8 * np.mean(h1["loss"][:5])
    assert all(np.isfinite(h1["loss"]))
    for pa, pb in zip(e1.parameters(), e2.parameters()):
        assert torch.equal(pa, pb)
    if variant == "simlm":
        assert 0.05 < np.mean(h1["replaced"]) < 0.35    # ≤ p_enc of the tokens differ from the original


def test_info_nce_is_the_shared_kernel_on_unit_rows():
    from simrepro.kernels.contrastive import info_nce_reference
    g = torch.Generator().manual_seed(0)
    q, p = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(7, 5, generator=g, dtype=torch.float64)
    qn, pn = q / q.norm(dim=1, keepdim=True), p / p.norm(dim=1, keepdim=True)
    manual = -torch.log_softmax(qn @ pn.T / 0.1, 1).diag().mean()
    torch.testing.assert_close(sl.info_nce(q, p, 0.1), manual, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sl.info_nce(q, p, 0.1), info_nce_reference(qn, pn, 0.1), rtol=1e-12, atol=1e-12)


def test_finetune_copies_learns_and_checks(voc):
    enc, _ = sl.pretrain("random", [], len(voc), steps=0, seed=0, d=32, heads=4, max_len=32)
    before = [p.clone() for p in enc.parameters()]
    q = voc.encode([t.split()[1] for t in TOY[:8]] * 4, 8)
    p = voc.encode(TOY[:8] * 4, 16)
    m, losses = sl.finetune(enc, q, p, epochs=15, batch=8, lr=3e-3, seed=0)
    for a, b in zip(before, enc.parameters()):
        assert torch.equal(a, b)                             # the input encoder is untouched
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    E = sl.embed(m, p)
    assert E.shape == (32, 32) and np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="pairs"):
        sl.finetune(enc, q, p[:3])


def test_mrr_recall_against_hand_computed_ranks():
    S = np.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.9], [0.1, 0.2, 0.3]])
    r = sl.mrr_recall(S, np.array([0, 1, 0]), k=2)
    # query 0: rank 1; query 1: rank 3 (out of top 2); query 2: rank 3
    assert r["mrr@2"] == pytest.approx(1 / 3)
    assert r["recall@2"] == pytest.approx(1 / 3)
    S[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sl.mrr_recall(S, np.array([0, 1, 0]))


def test_length_buckets_cover_each_index_once():
    lengths = np.random.default_rng(0).integers(3, 60, 1003)
    bs = sl.length_buckets(lengths, 64, np.random.default_rng(1), pool=3)
    allidx = np.concatenate(bs)
    assert sorted(allidx.tolist()) == list(range(1003))
    assert all(len(b) <= 64 for b in bs)


def test_wordnet_task_disjoint_and_pretraining_excludes_eval():
    t = sl.wordnet_task(50, 40, 30, seed=2)
    assert len(t["train_q"]) == 50 and len(t["test_p"]) == 40 and len(t["distract_p"]) == 30
    assert not set(t["train_p"]) & set(t["test_p"])
    assert len(t["held_out"]) == 70
    texts, src = sl.pretraining_corpus(t["held_out"], t["all_gloss"])
    assert not set(texts) & set(t["test_p"] + t["distract_p"])
    assert {"wordnet", "fortune", "lee-test"} == set(src)
    lee = sl.lee_task()
    assert 250 <= len(lee["q"]) == len(lee["p"]) <= 300
    joined = set(texts)
    assert not any(q in joined for q in lee["q"])            # the evaluation news stays out of pre-training
    with pytest.raises(ValueError):
        sl.wordnet_task(10 ** 6, 1, 0)
