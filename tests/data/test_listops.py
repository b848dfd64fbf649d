"""ListOps generator: values recomputed by an independent parser of the token text, lengths, determinism, errors."""

import numpy as np
import pytest

from simrepro.data.listops import VOCAB, listops


def evaluate(text: str) -> int:
    """Recursive-descent evaluation of a ListOps expression (independent of the generator's tree)."""
    toks = text.split()
    pos = 0

    def expr():
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t.isdigit():
            return int(t)
        args = []
        while toks[pos] != "]":
            args.append(expr())
        pos += 1
        return {"[MIN": min, "[MAX": max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: sum(a) % 10}[t](args)

    value = expr()
    assert pos == len(toks)
    return value


def test_labels_equal_the_value_of_the_text():
    d = listops(300, max_depth=4, max_args=6, max_length=80, seed=3)
    for i in range(300):
        assert evaluate(d.text(i)) == d.labels[i]


def test_lengths_padding_depth_and_vocab():
    d = listops(200, max_depth=3, max_args=5, max_length=40, min_length=10, seed=1)
    assert d.tokens.shape == (200, 40) and d.tokens.dtype == np.int64
    assert ((d.lengths >= 10) & (d.lengths <= 40)).all()
    for i in range(200):
        assert (d.tokens[i, d.lengths[i]:] == 0).all() and (d.tokens[i, :d.lengths[i]] > 0).all()
        text = d.text(i)
        assert text.count("[") == text.count("]")
    assert d.depth.min() >= 1 and d.depth.max() <= 3
    assert d.tokens.max() < len(VOCAB)
    assert set(np.unique(d.labels)) <= set(range(10))


def test_deterministic_under_seed():
    a, b, c = listops(50, seed=7), listops(50, seed=7), listops(50, seed=8)
    assert (a.tokens == b.tokens).all() and (a.labels == b.labels).all()
    assert not (a.tokens == c.tokens).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must"):
        listops(0)
    with pytest.raises(ValueError, match="max_args"):
        listops(5, max_args=1)
    with pytest.raises(ValueError, match="p_branch"):
        listops(5, p_branch=1.0)
    with pytest.raises(RuntimeError, match="could not draw"):
        listops(3, max_depth=1, max_args=2, max_length=10, min_length=10)
