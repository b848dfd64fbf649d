"""Similarity kernels. Each public function validates its input once, then calls a private compute core;
each has a plain reference beside it (``*_reference``) that the tests compare against."""

from simrepro.kernels.contrastive import info_nce_reference, tiled_info_nce
from simrepro.kernels.pairwise import METRICS, normalize_rows, pairwise_similarity, pairwise_similarity_reference
from simrepro.kernels.topk import topk_search, topk_search_reference
from simrepro.kernels.spectral import hill_number, kernel_spectrum, spectrum_entropy

__all__ = ["info_nce_reference", "tiled_info_nce", "METRICS", "normalize_rows", "pairwise_similarity", "pairwise_similarity_reference",
           "hill_number", "kernel_spectrum", "spectrum_entropy",
           "topk_search", "topk_search_reference"]
