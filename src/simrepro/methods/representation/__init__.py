"""Comparing and learning representations: CKA/CCA, spectral kernel regression, what cosine similarity of learned embeddings means."""
