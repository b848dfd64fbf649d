"""Search and retrieval beyond the exact top-k kernel: Gaussian (KL) retrieval as MIPS, similarity sketches."""
