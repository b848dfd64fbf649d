r"""A seeded text corpus with known latent word vectors (a discrete form of Arora, Li, Liang, Ma & Risteski's
random-walk model, TACL 2016), for checking how well embeddings recover word geometry by word frequency.

Words i = 0..V−1 have latent vectors v_i ~ N(0, I_d / d) and prior frequencies p_i ∝ (i + 1)^−s (Zipf; word 0
is the most frequent). A corpus is ``n_segments`` segments of ``segment_length`` tokens; each segment draws a
discourse vector c ~ N(0, I_d) and emits its tokens i.i.d. from

    P(i | c) ∝ p_i · exp(β ⟨v_i, c⟩)

so words whose latent vectors align co-occur more than chance: log P(i, j) / (P(i) P(j)) ≈ β² ⟨v_i, v_j⟩ for
small β (the PMI is linear in the latent inner product). Ground-truth similarity of two words is the cosine of
their latent vectors. Sampling is vectorised: per chunk of segments, one (chunk, V) probability matrix and an
inverse-CDF lookup. O(n_segments · V).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatentCorpus:
    """tokens (n_segments, segment_length) int64; latent (V, d) float64; prior (V,) float64 (sums to 1)."""
    tokens: np.ndarray
    latent: np.ndarray
    prior: np.ndarray

    def counts(self) -> np.ndarray:
        return np.bincount(self.tokens.ravel(), minlength=len(self.prior))


def latent_corpus(vocab_size: int = 2000, n_tokens: int = 1_000_000, *, dim: int = 10, segment_length: int = 20,
                  beta: float = 1.0, zipf: float = 1.0, seed: int = 0, chunk: int = 2048) -> LatentCorpus:
    """Sample the corpus (module docstring); ``n_tokens`` is rounded down to whole segments."""
    if vocab_size < 2 or dim < 1 or segment_length < 2 or n_tokens < segment_length:
        raise ValueError("need vocab_size ≥ 2, dim ≥ 1, segment_length ≥ 2 and n_tokens ≥ segment_length")
    if beta < 0 or zipf < 0:
        raise ValueError(f"beta and zipf must be ≥ 0, got {beta} and {zipf}")
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((vocab_size, dim)) / np.sqrt(dim)
    prior = (np.arange(1, vocab_size + 1, dtype=np.float64)) ** -zipf
    prior /= prior.sum()
    logp = np.log(prior)
    n_seg = n_tokens // segment_length
    out = np.empty((n_seg, segment_length), dtype=np.int64)
    for s in range(0, n_seg, chunk):
        b = min(chunk, n_seg - s)
        c = rng.standard_normal((b, dim))
        logits = logp[None, :] + beta * (c @ latent.T)
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        cdf = np.cumsum(P, axis=1)
        cdf /= cdf[:, -1:]
        u = rng.random((b, segment_length))
        for r in range(b):
            out[s + r] = np.minimum(np.searchsorted(cdf[r], u[r], side="right"), vocab_size - 1)
    return LatentCorpus(out, latent, prior)
