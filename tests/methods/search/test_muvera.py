import numpy as np
import pytest
import torch

from simrepro.data.synthetic import multivector_clouds
from simrepro.methods.search import muvera as mv


def ragged(seed=0, n=23, d=12, lo=1, hi=9):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(lo, hi)), d)).astype(np.float32) for _ in range(n)]


# ------------------------------------------------------------------------------------------------ Chamfer
def test_chamfer_matches_definition_on_ragged_sets():
    docs, qs = ragged(0, 31, 7), ragged(1, 6, 7, lo=0)          # a query may be empty
    fast, ref = mv.chamfer_similarity(qs, docs, block_size=5), mv.chamfer_similarity_reference(qs, docs)
    print(np.abs(fast - ref).max())
    assert fast.shape == (6, 31)
    np.testing.assert_allclose(fast, ref, atol=1e-5)           # float32 dots of O(1) vectors, summed in float64
    assert (fast[[i for i, q in enumerate(qs) if len(q) == 0]] == 0).all()


def test_chamfer_padded_equals_ragged_and_is_asymmetric():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 5)).astype(np.float32)
    mask = rng.random((4, 6)) < 0.7
    mask[:, 0] = True
    clouds = mv.ragged_from_padded(x, mask)
    assert [len(c) for c in clouds] == list(mask.sum(1))
    C = mv.chamfer_similarity(clouds, clouds)
    np.testing.assert_allclose(C, mv.chamfer_similarity_reference(clouds, clouds), atol=1e-5)
    assert not np.allclose(C, C.T)                              # Chamfer is not symmetric


def test_chamfer_torch_input_and_errors():
    docs = ragged(2, 5, 4)
    C = mv.chamfer_similarity([torch.from_numpy(d) for d in docs[:2]], docs)
    np.testing.assert_allclose(C, mv.chamfer_similarity(docs[:2], docs))
    with pytest.raises(ValueError, match="no vectors"):
        mv.chamfer_similarity(docs, docs + [np.zeros((0, 4), np.float32)])
    bad = docs[0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        mv.chamfer_similarity([bad], docs)
    with pytest.raises(ValueError, match="dimension"):
        mv.chamfer_similarity([np.ones((2, 3))], docs)
    with pytest.raises(TypeError, match="list"):
        mv.chamfer_similarity(docs[0], docs)
    assert mv.chamfer_similarity([], docs).shape == (0, 5)


# ------------------------------------------------------------------------------------------------ partitions
def test_gray_code_partition_follows_the_official_append_rule():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((200, 5))
    idx = mv.simhash_partition(s)
    for row, g in zip(s, idx):
        h = 0
        for bit in (row > 0).astype(int):
            h = (h << 1) + (bit ^ (h & 1))
        assert h == g
    # the sign pattern is recovered exactly, and neighbouring buckets differ in exactly one hyperplane
    np.testing.assert_array_equal(mv.partition_sign_bits(idx, 5), (s > 0).astype(int))
    pats = mv.partition_sign_bits(np.arange(32), 5)
    assert (np.abs(np.diff(pats, axis=0)).sum(1) == 1).all()
    assert (mv.simhash_partition(np.zeros((3, 0))) == 0).all()


# ------------------------------------------------------------------------------------------------ FDE encoder
CONFIGS = [
    dict(num_repetitions=3, num_simhash_projections=3),
    dict(num_repetitions=2, num_simhash_projections=4, projection="ams", projection_dimension=5),
    dict(num_repetitions=2, num_simhash_projections=2, projection="dense", projection_dimension=6),
    dict(num_repetitions=3, num_simhash_projections=3, projection="ams", projection_dimension=4,
         final_projection_dimension=37),
    dict(num_repetitions=1, num_simhash_projections=0),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("fill", [False, True])
def test_fde_batch_matches_reference(cfg, fill):
    docs, qs = ragged(4, 17, 12), ragged(5, 7, 12, lo=0)
    dc = mv.FDEConfig(12, fill_empty_partitions=fill, seed=3, **cfg)
    qc = mv.FDEConfig(12, seed=3, **cfg)
    D = mv.fde_encode(docs, dc, "document", chunk_size=5)
    Q = mv.fde_encode(qs, qc, "query")
    Dr = np.stack([mv.fde_encode_reference(d, dc, "document") for d in docs])
    Qr = np.stack([mv.fde_encode_reference(q, qc, "query") for q in qs])
    print(np.abs(D - Dr).max(), np.abs(Q - Qr).max())
    assert D.shape == (17, dc.output_dimension)
    np.testing.assert_allclose(D, Dr, atol=1e-5)
    np.testing.assert_allclose(Q, Qr, atol=1e-5)


def test_fde_single_bucket_identity_is_sum_times_mean():
    """k = 0, R = 1, identity: ⟨F_q(Q), F_doc(P)⟩ = Σ_q ⟨q, mean(P)⟩ exactly (one bucket, no projection)."""
    docs, qs = ragged(6, 9, 8), ragged(7, 4, 8)
    c = mv.FDEConfig(8)
    S = mv.fde_scores(mv.fde_encode(qs, c, "query"), mv.fde_encode(docs, c, "document"))
    expected = np.array([[q.sum(0) @ p.mean(0) for p in docs] for q in qs])
    np.testing.assert_allclose(S, expected, rtol=1e-5, atol=1e-5)


def test_fill_takes_the_nearest_point_by_sign_bits():
    """A document with one point fills every bucket with that point; without fill the others stay 0."""
    p = np.random.default_rng(1).standard_normal((1, 6)).astype(np.float32)
    c = mv.FDEConfig(6, 1, 3, fill_empty_partitions=True)
    F = mv.fde_encode([p], c, "document").reshape(8, 6)
    np.testing.assert_allclose(F, np.repeat(p, 8, 0))
    F0 = mv.fde_encode([p], mv.FDEConfig(6, 1, 3), "document").reshape(8, 6)
    assert (np.abs(F0).sum(1) > 0).sum() == 1


def test_fde_approximates_chamfer_on_clustered_clouds():
    data = multivector_clouds(200, 20, 32, seed=0)
    C = mv.chamfer_similarity(data.queries, data.documents)
    dc = mv.FDEConfig(32, 10, 4, "ams", 16, True, seed=0)
    qc = mv.FDEConfig(32, 10, 4, "ams", 16, False, seed=0)
    F = mv.fde_scores(mv.fde_encode(data.queries, qc, "query"), mv.fde_encode(data.documents, dc, "document"))
    r = np.corrcoef(F.ravel(), C.ravel())[0, 1]
    print(r)
    assert r > 0.8
    assert (C.argmax(1) == data.source).mean() > 0.9              # the generator's ground truth


def test_fde_config_and_input_errors():
    with pytest.raises(ValueError, match="31"):
        mv.FDEConfig(4, 1, 31)
    with pytest.raises(ValueError, match="projection_dimension"):
        mv.FDEConfig(4, 1, 2, "ams")
    with pytest.raises(ValueError, match="unknown projection"):
        mv.FDEConfig(4, projection="gauss")
    with pytest.raises(ValueError, match="documents only"):
        mv.fde_encode(ragged(0, 2, 4), mv.FDEConfig(4, 1, 2, fill_empty_partitions=True), "query")
    with pytest.raises(ValueError, match="no vectors"):
        mv.fde_encode([np.zeros((0, 4), np.float32)], mv.FDEConfig(4, 1, 2, fill_empty_partitions=True), "document")
    with pytest.raises(ValueError, match="dimension"):
        mv.fde_encode(ragged(0, 2, 5), mv.FDEConfig(4), "query")
    with pytest.raises(ValueError, match="kind"):
        mv.fde_encode(ragged(0, 2, 4), mv.FDEConfig(4), "doc")
    assert mv.fde_encode([], mv.FDEConfig(4, 2, 2), "query").shape == (0, 2 * 4 * 4)


# ------------------------------------------------------------------------------------------------ the peer
@pytest.mark.parametrize("proj,final", [("identity", None), ("ams", None), ("ams", 101)])
def test_peer_parity_without_fill(proj, final):
    pytest.importorskip("muvera")
    docs, qs = ragged(8, 15, 10), ragged(9, 5, 10)
    c = mv.FDEConfig(10, 3, 3, proj, 4 if proj == "ams" else None, False, final, seed=5)
    rnd = mv.muvera_python_randomness(c)
    peer = mv.muvera_python_encoder(c)
    np.testing.assert_allclose(mv.fde_encode(docs, c, "document", randomness=rnd), peer.encode_documents(docs),
                               atol=1e-5)
    np.testing.assert_allclose(mv.fde_encode(qs, c, "query", randomness=rnd), peer.encode_queries(qs), atol=1e-5)


# ------------------------------------------------------------------------------------------------ retrieval
def test_sv_heuristic_matches_reference():
    docs, qs = ragged(10, 25, 6), ragged(11, 4, 6)
    fast = mv.sv_heuristic_candidates(qs, docs, 12, depth=10_000)
    ref = mv.sv_heuristic_candidates_reference(qs, docs, 12)
    np.testing.assert_array_equal(fast, ref)
    assert all(len(set(r[r >= 0])) == (r >= 0).sum() for r in fast)       # no duplicates


def test_candidate_recall_and_ratio_by_hand():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 2.0, 0.0, 3.0]])
    cand = np.array([[4, 0, 1, -1], [2, 1, 4, 0]])
    r = mv.candidate_recall(cand, scores, 2)
    # query 0: top-2 = {0, 1} → hits at positions 1, 2; query 1: 2nd best score 2 is tied (docs 1, 2) → any two of
    # {1, 2, 4} count, capped at 2
    np.testing.assert_allclose(r, [(0 + 0.5) / 2, (0.5 + 1) / 2, (1 + 1) / 2, (1 + 1) / 2])
    ratio = mv.candidates_to_match([0.5, 0.9, 1.0], [0.1, 0.5, 0.6, 0.9], [2, 4])
    np.testing.assert_allclose(ratio, [2 / 1, 4 / 2])
    assert np.isnan(mv.candidates_to_match([0.1, 0.2], [0.5, 0.9], [2])[0])
    with pytest.raises(ValueError):
        mv.candidate_recall(cand, scores, 6)
