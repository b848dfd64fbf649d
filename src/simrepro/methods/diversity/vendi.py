r"""The Vendi scores: diversity as the effective number of distinct items in a sample.

Friedman & Dieng, "The Vendi Score", TMLR 2023 (q = 1); Pasarkar & Dieng, "Cousins of the Vendi Score",
AISTATS 2024 (the order-q family). For n items with a PSD similarity k, k(x, x) = 1, K[i, j] = k(xᵢ, xⱼ):

    VS_q(K) = exp(H_q(λ(K / n)))

where λ(K/n) are the eigenvalues of K/n (they sum to tr K / n = 1) and H_q is the Rényi entropy of order q
(``simrepro.kernels.spectral``). q = 1 is the original Vendi Score, exp of the von Neumann entropy of K/n;
q = 0 gives rank K; q = ∞ gives 1 / λ_max(K/n). 1 ≤ VS_q ≤ n; VS_q is non-increasing in q; small q weighs rare
items more, large q the dominant ones. With K block-diagonal of all-ones blocks (identical items within a
class, orthogonal across) the eigenvalues of K/n are the class proportions and VS_q is the Hill number.

Layers, from general to fast; each computes the same number where they overlap:

- ``score(samples, k, q)``: any similarity, a callable ``k(a, b)`` (n(n+1)/2 Python calls) or a metric name
  of :func:`simrepro.kernels.pairwise_similarity` (``'cosine'``, ``'gaussian'``, ``'dot'``), vectorised;
- ``score_K(K, q)``: a precomputed (n, n) matrix; O(n³);
- ``score_X(X, q)``: linear kernel on the rows of X (n, d), K = X̂ X̂ᵀ with X̂ row-normalised (cosine), from
  the smaller of K and the (d, d) covariance X̂ᵀX̂ / n (same non-zero eigenvalues as K/n);
- ``score_dual(X, q)``: the same score, always from the covariance; O(nd² + d³).

The official package (``vendi_score.vendi``) has the same four layers; its ``score_X`` ignores its ``q``
and always returns the q = 1 score, which the tests here guard against for every layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from simrepro.kernels import pairwise_similarity
from simrepro.kernels._validate import as_matrix
from simrepro.kernels.spectral import hill_number, kernel_spectrum

_DIAG_TOL = 1e-6
_SIMILARITIES = ("cosine", "gaussian", "dot")


def _unit_diagonal(K: torch.Tensor, normalize: bool) -> torch.Tensor:
    """K with k(x, x) = 1: checked, or enforced by K[i, j] / sqrt(K[i, i] K[j, j]) when ``normalize``."""
    d = torch.diagonal(K)
    if normalize:
        if (d <= 0).any():
            i = int(torch.nonzero(d <= 0)[0])
            raise ValueError(f"K[{i}, {i}] = {float(d[i]):.3g}: normalize=True needs a positive diagonal")
        s = d.sqrt()
        return K / (s[:, None] * s[None, :])
    bad = (d - 1).abs() > _DIAG_TOL
    if bad.any():
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"K[{i}, {i}] = {float(d[i]):.6g}, but the Vendi score needs k(x, x) = 1; "
                         f"pass normalize=True to use K[i, j] / sqrt(K[i, i] K[j, j])")
    return K


def score_K(K, q: float | str = 1.0, *, normalize: bool = False) -> float:
    """VS_q of a PSD similarity matrix K (n, n) with unit diagonal: exp(H_q(eigenvalues of K / n)).

    ``q`` ≥ 0, ``math.inf`` or ``'inf'``. ``normalize=True`` first rescales K to unit diagonal.
    Raises ``ValueError`` for an empty, non-square, asymmetric, non-PSD or non-finite K, or a diagonal ≠ 1.
    """
    Kt = as_matrix(K, "K", allow_empty=False)
    if Kt.shape[0] != Kt.shape[1]:
        raise ValueError(f"K: expected a square (n, n) matrix, got shape {tuple(Kt.shape)}")
    Kt = _unit_diagonal(Kt, normalize)
    # tr K = n, so λ(K) / Σλ(K) = λ(K / n): hill_number normalises by the sum
    return hill_number(kernel_spectrum(Kt), q)


def score_K_orders(K, qs: Sequence[float | str], *, normalize: bool = False) -> list[float]:
    """[VS_q(K) for q in qs] from one eigendecomposition of K (n, n): equal to calling :func:`score_K` per order."""
    Kt = as_matrix(K, "K", allow_empty=False)
    if Kt.shape[0] != Kt.shape[1]:
        raise ValueError(f"K: expected a square (n, n) matrix, got shape {tuple(Kt.shape)}")
    spectrum = kernel_spectrum(_unit_diagonal(Kt, normalize))
    return [hill_number(spectrum, q) for q in qs]


def _features(X, normalize: bool) -> torch.Tensor:
    """X (n, d) as float64, rows scaled to unit norm when ``normalize``; zero rows are an error either way."""
    Xt = as_matrix(X, "X", dtype=torch.float64, allow_empty=False)
    norms = Xt.norm(dim=1)
    if (norms == 0).any():
        raise ValueError(f"X: row {int(torch.nonzero(norms == 0)[0])} is all zeros; it has no direction, so "
                         f"its similarity with itself is undefined: drop it")
    if normalize:
        return Xt / norms[:, None]
    if ((norms - 1).abs() > _DIAG_TOL).any():
        raise ValueError("X: rows are not unit-norm, so x·x ≠ 1; pass normalize=True (cosine similarity)")
    return Xt


def _linear_spectrum(Xt: torch.Tensor, dual: bool | None = None) -> np.ndarray:
    """Non-zero spectrum of the linear kernel on the rows of Xt (n, d), from the cheaper side: the (d, d)
    covariance X̂ᵀX̂ / n when d < n (O(nd² + d³)), else the (n, n) Gram matrix (O(n²d + n³)); both have the
    same non-zero eigenvalues up to the factor n, which the normalisation of :func:`hill_number` removes."""
    n, d = Xt.shape
    if dual is None:
        dual = d < n
    if not dual:
        return kernel_spectrum(pairwise_similarity(Xt, metric="dot"))
    C = Xt.T @ Xt / n                                              # (d, d), trace 1
    C = (C + C.T) / 2                                              # exact symmetry for the eigensolver
    return kernel_spectrum(C, rtol=max(n, d) * float(torch.finfo(torch.float64).eps))


def score_X(X, q: float | str = 1.0, *, normalize: bool = True) -> float:
    """VS_q of the linear kernel K = X̂ X̂ᵀ on the rows of X (n, d); X̂ = rows at unit norm (cosine kernel).

    ``normalize=False`` requires unit-norm rows. Computed from the smaller of the (n, n) Gram matrix and the
    (d, d) covariance: O(n·d·min(n, d) + min(n, d)³) (the official package's ``score_X`` takes the covariance).
    """
    return hill_number(_linear_spectrum(_features(X, normalize)), q)


def score_X_orders(X, qs: Sequence[float | str], *, normalize: bool = True) -> list[float]:
    """[VS_q of the cosine kernel on the rows of X for q in qs] from one eigendecomposition: equal to calling
    :func:`score_X` per order, at the cost of one."""
    spectrum = _linear_spectrum(_features(X, normalize))
    return [hill_number(spectrum, q) for q in qs]


def score_dual(X, q: float | str = 1.0, *, normalize: bool = True) -> float:
    """VS_q of the linear kernel on the rows of X (n, d), always computed from the (d, d) covariance
    C = X̂ᵀX̂ / n, which shares the non-zero eigenvalues of K/n (the SVD of X̂/√n): equal to :func:`score_X`,
    O(nd² + d³). Accumulated in float64."""
    return hill_number(_linear_spectrum(_features(X, normalize), dual=True), q)


def score(samples, k: Callable | str, q: float | str = 1.0, *, normalize: bool = False,
          gamma: float | None = None) -> float:
    """VS_q of ``samples`` under the similarity ``k``.

    ``k`` is a callable ``k(a, b) -> float`` applied to every pair of ``samples`` (a sequence of any
    objects), or a metric name ``'cosine' | 'gaussian' | 'dot'`` of :func:`pairwise_similarity`, applied to
    ``samples`` as an (n, d) array (``gamma`` goes to ``'gaussian'``).
    """
    if isinstance(k, str):
        if k not in _SIMILARITIES:
            raise ValueError(f"k={k!r}: expected a callable or one of {', '.join(_SIMILARITIES)} "
                             f"('l2' is a distance, not a similarity)")
        X = samples if isinstance(samples, torch.Tensor) else np.asarray(samples)
        return score_K(pairwise_similarity(X, metric=k, gamma=gamma), q, normalize=normalize)
    if not callable(k):
        raise TypeError(f"k must be a callable k(a, b) or a metric name, got {type(k).__name__}")
    n = len(samples)
    K = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            K[i, j] = K[j, i] = k(samples[i], samples[j])
    return score_K(K, q, normalize=normalize)


def pixel_vectors(images, size: int | None = 32) -> np.ndarray:
    """(n, h, w) uint8 grey images → (n, size²) float64 pixel vectors, each image resized with PIL's default
    resampling (bicubic for 8-bit grey images), the recipe of the official ``image_utils.get_pixel_vectors``."""
    from PIL import Image

    imgs = np.asarray(images)
    if imgs.ndim != 3 or imgs.dtype != np.uint8 or len(imgs) == 0:
        raise ValueError(f"images: expected a non-empty (n, h, w) uint8 array, got shape {imgs.shape} dtype {imgs.dtype}")
    if size is not None:
        imgs = np.stack([np.asarray(Image.fromarray(im).resize((size, size))) for im in imgs])
    return imgs.reshape(len(imgs), -1).astype(np.float64)


def pixel_vendi_score(images, q: float | str = 1.0, *, size: int | None = 32) -> float:
    """VS_q of (n, h, w) uint8 images under the cosine similarity of their resized pixel vectors."""
    X = pixel_vectors(images, size)
    n, d = X.shape
    return score_dual(X, q) if d < n else score_X(X, q)


def ngram_vendi_score(sentences: Sequence[str], ns: Sequence[int] = (1, 2, 3, 4), q: float | str = 1.0) -> float:
    """VS_q of sentences under the n-gram similarity: K = mean over n in ``ns`` of the cosine similarity of
    n-gram count vectors (case kept, NLTK Treebank word tokens), as in the official ``text_utils``."""
    from nltk.tokenize import word_tokenize
    from sklearn.feature_extraction.text import CountVectorizer

    if len(sentences) == 0:
        raise ValueError("sentences: empty; the Vendi score of an empty sample is undefined")
    Ks = []
    for n in ns:
        counts = CountVectorizer(tokenizer=lambda s: word_tokenize(s, preserve_line=True), token_pattern=None,
                                 ngram_range=(n, n), lowercase=False).fit_transform(sentences)
        Ks.append(pairwise_similarity(counts.toarray().astype(np.float64), metric="cosine"))
    return score_K(np.mean(Ks, axis=0), q)
