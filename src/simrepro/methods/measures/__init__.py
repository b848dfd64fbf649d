"""Similarity measures and distances: generalised Jaccard indices, tree earth mover's distance."""
