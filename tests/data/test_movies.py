import pytest

from simrepro.data._store import AssetMissing
from simrepro.data.movies import GENRES, MIN_VOTES, RATING_BINS, load_imdb_movies


def test_imdb_movies_table():
    try:
        df = load_imdb_movies()
    except AssetMissing as e:
        pytest.skip(str(e))
    assert df.shape == (15713, 5 + len(RATING_BINS) + len(GENRES))
    assert (df["votes"] >= MIN_VOTES).all()
    assert df[list(GENRES)].isin([0, 1]).all().all()
    # percent of votes per star, each reported as a bin mid-point (4.5, 14.5, …), so rows sum to 100 only roughly
    assert df[list(RATING_BINS)].sum(axis=1).between(60, 140).all()
    assert df["title"].str.len().gt(0).all() and df["year"].between(1890, 2010).all()
