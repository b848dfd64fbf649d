r"""A seeded synthetic product catalogue with a planted complement graph and co-purchase baskets (ground truth
returned), for complementary-vs-substitute item retrieval.

Catalogue. C categories of m items each (I = C·m); item i has category c(i) and a brand b(i) ∈ {0..B−1}. Items of
one category are *substitutes* (interchangeable). A random directed complement graph G gives each category
``n_complements`` other categories (phone → case, charger …); the complements of item i are the items of the
categories G(c(i)).

Baskets. An anchor item a drawn with a Zipf(``zipf``) popularity inside a uniformly drawn category, then 1 to
``max_partners`` partners, each from a distinct complement category of c(a), preferring the anchor's brand with
probability ``brand_affinity`` (the first of 8 Zipf-weighted draws from that category with the anchor's brand,
if any; else the first draw). Two items of one category never
share a basket (substitutes are never bought together).

Content vectors. A noisy "other modality" per item: e_{c(i)} + 0.5·f_{b(i)} + σ·ε (d = ``content_dim``, unit
Gaussian directions per category and brand, σ = ``content_noise``), L2-normalised: close for substitutes of one
brand, unrelated to complementarity.

Cold items. A seeded fraction ``cold_fraction`` of the items never appears in a basket (their baskets are
dropped), the setting of the paper's synthetic-sample coverage experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ComplementCatalogue:
    category: np.ndarray          # (I,) int64
    brand: np.ndarray             # (I,) int64
    complements: np.ndarray       # (C, C) bool, complements[c, c'] = c' is a complement category of c
    baskets: list[np.ndarray]     # item index arrays, no two items of one category in a basket
    content: np.ndarray           # (I, d) float32, unit rows
    cold: np.ndarray              # (I,) bool: never in a basket

    @property
    def n_items(self) -> int:
        return len(self.category)

    def is_complement(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Boolean, broadcast: c(j) is a complement category of c(i)."""
        return self.complements[self.category[i], self.category[j]]

    def is_substitute(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Boolean, broadcast: same category and i ≠ j."""
        return (self.category[i] == self.category[j]) & (np.asarray(i) != np.asarray(j))


def complement_catalogue(n_categories: int = 50, items_per_category: int = 20, *, n_complements: int = 3,
                         n_brands: int = 5, n_baskets: int = 20000, max_partners: int = 3, zipf: float = 1.0,
                         brand_affinity: float = 0.7, content_dim: int = 32, content_noise: float = 0.3,
                         cold_fraction: float = 0.0, seed: int = 0) -> ComplementCatalogue:
    """Draw a catalogue (see the module docstring); deterministic given ``seed``."""
    if n_categories < n_complements + 1 or n_complements < 1:
        raise ValueError(f"need 1 ≤ n_complements < n_categories, got {n_complements}, {n_categories}")
    if items_per_category < 1 or n_brands < 1 or n_baskets < 1 or max_partners < 1:
        raise ValueError("items_per_category, n_brands, n_baskets and max_partners must be ≥ 1")
    if not 0.0 <= cold_fraction < 1.0 or not 0.0 <= brand_affinity <= 1.0:
        raise ValueError(f"cold_fraction must be in [0, 1) and brand_affinity in [0, 1], got {cold_fraction}, "
                         f"{brand_affinity}")
    rng = np.random.default_rng(seed)
    C, m = n_categories, items_per_category
    category = np.repeat(np.arange(C), m)
    brand = rng.integers(0, n_brands, C * m)
    comp = np.zeros((C, C), bool)
    for c in range(C):
        comp[c, rng.choice(np.delete(np.arange(C), c), n_complements, replace=False)] = True
    pop = rng.permuted(np.tile(1.0 / np.arange(1, m + 1) ** zipf, (C, 1)), axis=1)   # (C, m) Zipf, shuffled
    cdf = np.cumsum(pop / pop.sum(1, keepdims=True), axis=1)

    def draw(cats: np.ndarray, n: int) -> np.ndarray:                           # (len(cats), n) item draws
        u = rng.random((len(cats), n))
        pos = np.minimum((cdf[cats][:, None, :] < u[..., None]).sum(-1), m - 1)
        return cats[:, None] * m + pos

    cold = np.zeros(C * m, bool)
    cold[rng.choice(C * m, int(round(cold_fraction * C * m)), replace=False)] = True
    comp_list = np.array([np.flatnonzero(comp[c]) for c in range(C)])           # (C, n_complements)
    cats = rng.integers(0, C, n_baskets)
    anchors = draw(cats, 1)[:, 0]
    order = np.argsort(rng.random((n_baskets, n_complements)), axis=1)
    partner_cats = np.take_along_axis(comp_list[cats], order, 1)                # complement categories, shuffled
    n_partners = rng.integers(1, min(max_partners, n_complements) + 1, n_baskets)
    n_try = 8                                                                   # brand match among 8 draws
    slots = []
    for j in range(min(max_partners, n_complements)):
        cand = draw(partner_cats[:, j], n_try)                                  # (n_baskets, n_try)
        match = brand[cand] == brand[anchors][:, None]
        first = np.where(match.any(1), match.argmax(1), 0)
        pick = np.where(rng.random(n_baskets) < brand_affinity, cand[np.arange(n_baskets), first], cand[:, 0])
        slots.append(pick)
    slots = np.stack(slots, 1)
    baskets = []
    for r in range(n_baskets):
        basket = np.concatenate([[anchors[r]], slots[r, :n_partners[r]]]).astype(np.int64)
        if not cold[basket].any():
            baskets.append(basket)
    e_cat = rng.normal(size=(C, content_dim))
    e_brand = rng.normal(size=(n_brands, content_dim))
    content = e_cat[category] + 0.5 * e_brand[brand] + content_noise * rng.normal(size=(C * m, content_dim))
    content /= np.linalg.norm(content, axis=1, keepdims=True)
    return ComplementCatalogue(category, brand, comp, baskets, content.astype(np.float32), cold)
