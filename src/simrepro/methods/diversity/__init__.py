"""Diversity of a set under a similarity: Vendi scores and their orders, DPP reranking."""
