"""Shared test setup. Triton kernels run on CPU through Triton's interpreter when no CUDA device is present;
the variable must be set before any ``@triton.jit`` function is defined, hence here, at collection time."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
