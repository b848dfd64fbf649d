"""First-stage retrieval methods, dense and sparse: BM25, multi-vector document representations."""
