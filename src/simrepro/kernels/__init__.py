"""Similarity kernels. Each public function validates its input once, then calls a private compute core;
each has a plain reference beside it (``*_reference``) that the tests compare against.

The public names below are imported on first use (PEP 562), so ``from simrepro.kernels import
pairwise_similarity`` loads the pairwise kernel alone, not Triton or the top-k machinery; the pipeline reads
``_EXPORTS`` to know which module a name comes from (``simrepro.repro.deps``)."""

from importlib import import_module

_EXPORTS = {
    "METRICS": "simrepro.kernels.pairwise",
    "normalize_rows": "simrepro.kernels.pairwise",
    "pairwise_similarity": "simrepro.kernels.pairwise",
    "pairwise_similarity_reference": "simrepro.kernels.pairwise",
    "hill_number": "simrepro.kernels.spectral",
    "kernel_spectrum": "simrepro.kernels.spectral",
    "spectrum_entropy": "simrepro.kernels.spectral",
    "topk_search": "simrepro.kernels.topk",
    "topk_search_reference": "simrepro.kernels.topk",
    "info_nce_reference": "simrepro.kernels.contrastive",
    "tiled_info_nce": "simrepro.kernels.contrastive",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simrepro.kernels' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
