r"""Flowformer (Wu, Wu, Xu, Wang & Long, ICML 2022; github.com/thuml/Flowformer): Flow-Attention compared with
softmax and plain linear attention, in one tiny transformer, on LRA's ListOps task, plus the attention maps.

The attention kernels are :mod:`simrepro.kernels.attention` (``flow_attention`` implements the official
``Flow_Attention.py``, lines 40–59: sigmoid features, incoming/outgoing flows, conserved flows, source
competition by softmax·m, sink allocation by sigmoid(·n/m)); the training harness (paired training, q/k
read-out, attention maps with V = I, normalised row entropy) is :mod:`simrepro.methods.attention.compare`, shared
with SOFT and NaLaFormer. What is Flowformer's own is the line-up:

- :data:`ATTENTIONS`: the three contestants as callables the model takes — ``flowformer`` (Flow-Attention),
  ``softmax`` (SDPA), ``linear`` (ELU+1 kernelised linear attention, Katharopoulos et al. 2020: the plain
  linear attention the paper's flow design sets out to improve).

The notebook's "attention entropy" of a trained model is the mean of ``compare.row_entropy`` over its real
query rows (sequences with ≥ 2 real keys): 1 = uniform over the m real keys, 0 = one key — the paper's
"informative, non-trivial attention" in one number.
"""

from __future__ import annotations

import functools

from simrepro.kernels.attention import flow_attention, linear_attention, softmax_attention

__all__ = ["ATTENTIONS"]

ATTENTIONS = {
    "flowformer": functools.partial(flow_attention, check_finite=False),
    "softmax": functools.partial(softmax_attention, check_finite=False),
    "linear": functools.partial(linear_attention, feature_map="elu1", check_finite=False),
}
