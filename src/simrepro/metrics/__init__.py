"""Retrieval and ranking metrics (tie-aware), correlations, image metrics."""

from simrepro.metrics.knn import assert_knn_equal, knn_matches, knn_recall

__all__ = ["assert_knn_equal", "knn_matches", "knn_recall"]
