"""Small torch models that notebooks train (one module per model family)."""
