"""Graphs and recommendation: node embeddings from similarity matrices."""
