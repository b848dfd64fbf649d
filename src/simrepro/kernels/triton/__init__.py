"""Triton kernels, one module per kernel family; each is the fast path of a public function in
``simrepro.kernels`` and is imported lazily by it (only when CUDA is used, or by tests under
``TRITON_INTERPRET=1``)."""
