import numpy as np
import pytest

from simrepro.data.assoc_recall import associative_recall


def test_layout_targets_and_answers():
    d = associative_recall(50, n_pairs=6, n_queries=3, n_keys=10, n_values=7, seed=3)
    assert d.tokens.shape == (50, 15) and d.context == 12 and d.vocab_size == 17
    keys, vals = d.tokens[:, 0:12:2], d.tokens[:, 1:12:2]
    assert (keys < 10).all() and ((vals >= 10) & (vals < 17)).all()
    assert all(len(set(r)) == 6 for r in keys)                          # distinct keys per context
    for i in range(50):
        for j in range(3):
            q = d.tokens[i, 12 + j]
            pos = int(np.nonzero(keys[i] == q)[0][0])
            assert d.targets[i, 12 + j] == vals[i, pos] and d.answer_pos[i, j] == 2 * pos + 1
        assert len(set(d.tokens[i, 12:])) == 3                          # distinct queries
    assert (d.targets[:, :12] == -100).all() and (d.lengths == 15).all()


def test_seeded_and_validated():
    a, b = associative_recall(5, seed=1), associative_recall(5, seed=1)
    assert np.array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, associative_recall(5, seed=2).tokens)
    assert len(associative_recall(0)) == 0
    with pytest.raises(ValueError, match="n_keys"):
        associative_recall(5, n_pairs=40, n_keys=32)
    with pytest.raises(ValueError, match="n_queries"):
        associative_recall(5, n_pairs=4, n_queries=5)
