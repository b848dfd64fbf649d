r"""RepBERT (Zhan, Mao, Liu, Zhang & Ma, arXiv 2006.15498; official code ``jingtaozhan/RepBERT-Index``):
contextual text embeddings for first-stage retrieval.

One shared BERT encodes queries and documents; a text's representation is the mean of its last-layer token
vectors over the real tokens (official ``modeling.py`` ``_average_sequence_embeddings``, lines 66–73):

    e(x) = (1 / |x|) Σ_{t ∈ x} h_t                                  (not normalised)

and relevance is the inner product s(q, d) = ⟨e(q), e(d)⟩ (``modeling.py`` line 55), so retrieval is a
maximum-inner-product search over precomputed document vectors. Training uses in-batch negatives: in a batch
of B queries and the B' documents of the batch, each query's relevant documents are its positives and every
other document of the batch a negative, under ``nn.MultiLabelMarginLoss`` (``modeling.py`` lines 55–60):

    ℓ(q) = Σ_{j ∈ P(q)} Σ_{k ∉ P(q)} max(0, 1 − (s_qj − s_qk)) / B',   loss = mean over the batch's queries

(:func:`in_batch_margin_loss`; ``torch.nn.MultiLabelMarginLoss`` is the peer). Official lengths: queries
≤ 20 tokens, documents ≤ 256 (``dataset.py`` line 69).

Here the encoder is a sentence-transformers model (all-MiniLM-L6-v2 by default); :class:`MeanPoolEncoder`
reads its transformer and tokenizer, pools as above and can fine-tune its top ``train_layers`` layers
(the lower layers and the embeddings frozen, their outputs computed once and cached: :meth:`MeanPoolEncoder.lower_states`, to fit a CPU budget). Costs: encoding O(n · L · cost of the
model); a training step O(B · L) forward + the top layers' backward; the loss O(B · B').
"""

from __future__ import annotations

import copy

import numpy as np
import torch


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, d) mean of ``hidden`` (B, L, d) over the positions where ``mask`` (B, L) is 1; a row without any
    real token raises (a mean over nothing is undefined)."""
    if hidden.ndim != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"hidden must be (B, L, d) and mask (B, L), got {tuple(hidden.shape)}, {tuple(mask.shape)}")
    m = mask.to(hidden.dtype)
    n = m.sum(1, keepdim=True)
    if bool((n == 0).any()):
        raise ValueError("a row of mask has no real token: every text needs at least one token")
    return (hidden * m[..., None]).sum(1) / n


def in_batch_margin_loss(scores: torch.Tensor, positives: list[list[int]]) -> torch.Tensor:
    """RepBERT's loss on a (B, B') score matrix: for query i with positive columns ``positives[i]`` (non-empty),
    Σ_{j ∈ P} Σ_{k ∉ P} relu(1 − s_ij + s_ik) / B', averaged over the B queries (= ``nn.MultiLabelMarginLoss``
    with the positives as its target lists)."""
    if scores.ndim != 2 or len(positives) != scores.shape[0]:
        raise ValueError(f"scores must be (B, B') with one positive list per row, got {tuple(scores.shape)} and "
                         f"{len(positives)} lists")
    B, C = scores.shape
    P = torch.zeros(B, C, dtype=torch.bool)
    for i, cols in enumerate(positives):
        if not cols:
            raise ValueError(f"query {i} has no positive document in the batch")
        if min(cols) < 0 or max(cols) >= C:
            raise ValueError(f"positive columns must lie in [0, {C}), got {cols}")
        P[i, list(cols)] = True
    hinge = torch.relu(1.0 - scores[:, :, None] + scores[:, None, :])          # [i, j, k] = 1 − s_ij + s_ik
    pair = P[:, :, None] & ~P[:, None, :]
    return (hinge * pair).sum((1, 2)).div(C).mean()


def margin_targets(positives: list[list[int]], n_cols: int) -> torch.Tensor:
    """The target tensor of ``nn.MultiLabelMarginLoss`` (positives first, padded with −1) for the peer check."""
    t = torch.full((len(positives), n_cols), -1, dtype=torch.long)
    for i, cols in enumerate(positives):
        t[i, :len(cols)] = torch.as_tensor(cols)
    return t


class MeanPoolEncoder:
    """Mean-pooled, unnormalised last-layer embeddings of a sentence-transformers model (its transformer and
    tokenizer), with optional fine-tuning of the top ``train_layers`` layers. ``copy=True`` deep-copies the
    model so that fine-tuning leaves the caller's untouched."""

    def __init__(self, st_model, *, copy_model: bool = True, max_len: int = 64):
        self.model = copy.deepcopy(st_model[0].auto_model) if copy_model else st_model[0].auto_model
        self.tokenizer = st_model.tokenizer
        self.max_len = max_len

    def _batch(self, texts: list[str], max_len: int | None):
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str")
        return self.tokenizer(texts, padding=True, truncation=True, max_length=max_len or self.max_len,
                              return_tensors="pt")

    def forward(self, texts: list[str], max_len: int | None = None) -> torch.Tensor:
        b = self._batch(texts, max_len)
        out = self.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state
        return mean_pool(out, b["attention_mask"])

    @torch.no_grad()
    def encode(self, texts: list[str], *, max_len: int | None = None, batch_size: int = 64) -> np.ndarray:
        """(n, d) float32 mean-pooled embeddings (not normalised: RepBERT scores by inner product)."""
        self.model.eval()
        if not texts:
            return np.zeros((0, self.model.config.hidden_size), np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")             # similar lengths share a batch
        out = np.zeros((len(texts), self.model.config.hidden_size), np.float32)
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            out[idx] = self.forward([texts[i] for i in idx], max_len).numpy()
        return out

    # -- split forward: frozen lower layers computed once, the top layers per step (fine-tuning on a CPU) --
    @torch.no_grad()
    def lower_states(self, texts: list[str], n_frozen: int, *, max_len: int | None = None,
                     batch_size: int = 64) -> list[torch.Tensor]:
        """Per text, the (Lᵢ, d) hidden states of its real tokens after the embeddings and the first
        ``n_frozen`` encoder layers (0 = the embedding output)."""
        layers = self.model.encoder.layer
        if not 0 <= n_frozen < len(layers):
            raise ValueError(f"n_frozen must be in 0..{len(layers) - 1}, got {n_frozen}")
        self.model.eval()
        out: list[torch.Tensor] = [None] * len(texts)  # type: ignore[list-item]
        for s in range(0, len(texts), batch_size):
            b = self._batch(texts[s:s + batch_size], max_len)
            h = self.model.embeddings(input_ids=b["input_ids"], token_type_ids=torch.zeros_like(b["input_ids"]))
            ext = _additive_mask(b["attention_mask"], h.dtype)
            for layer in layers[:n_frozen]:
                h = _layer(layer, h, ext)
            for i, (row, m) in enumerate(zip(h, b["attention_mask"].bool())):
                out[s + i] = row[m].clone()
        return out

    def upper_pool(self, states: list[torch.Tensor], n_frozen: int) -> torch.Tensor:
        """(B, d) mean-pooled output of the layers above ``n_frozen`` on padded ``states`` (from
        :meth:`lower_states`); differentiable in the top layers' parameters."""
        L = max(x.shape[0] for x in states)
        h = torch.zeros(len(states), L, states[0].shape[1], dtype=states[0].dtype)
        mask = torch.zeros(len(states), L, dtype=torch.long)
        for i, x in enumerate(states):
            h[i, :x.shape[0]] = x
            mask[i, :x.shape[0]] = 1
        ext = _additive_mask(mask, h.dtype)
        for layer in self.model.encoder.layer[n_frozen:]:
            h = _layer(layer, h, ext)
        return mean_pool(h, mask)

    @torch.no_grad()
    def encode_states(self, states: list[torch.Tensor], n_frozen: int, *, batch_size: int = 64) -> np.ndarray:
        """(n, d) float32 embeddings from cached lower states (equal to :meth:`encode` of the same texts)."""
        self.model.eval()
        order = np.argsort([x.shape[0] for x in states], kind="stable")
        out = np.zeros((len(states), self.model.config.hidden_size), np.float32)
        for s in range(0, len(states), batch_size):
            idx = order[s:s + batch_size]
            out[idx] = self.upper_pool([states[i] for i in idx], n_frozen).numpy()
        return out

    def finetune(self, q_states: list[torch.Tensor], d_states: list[torch.Tensor], doc_keys, *, n_frozen: int,
                 steps: int = 50, batch: int = 32, lr: float = 5e-5, seed: int = 0) -> list[float]:
        """Fine-tune the layers above ``n_frozen`` on pairs (query i, its relevant document i), given as cached
        lower states (:meth:`lower_states`), with in-batch negatives (:func:`in_batch_margin_loss`); documents
        with the same ``doc_keys`` value (e.g. the same text) in a batch are all positives of each other's
        queries. AdamW; returns the loss per step."""
        n = len(q_states)
        if n != len(d_states) or n != len(doc_keys) or n < 2:
            raise ValueError("need ≥ 2 pairs and one query state, document state and document key per pair")
        layers = self.model.encoder.layer
        if not 0 <= n_frozen < len(layers):
            raise ValueError(f"n_frozen must be in 0..{len(layers) - 1}, got {n_frozen}")
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = [p for layer in layers[n_frozen:] for p in layer.parameters()]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=lr)
        g = torch.Generator().manual_seed(seed)
        self.model.train()
        losses = []
        for _ in range(steps):
            idx = torch.randperm(n, generator=g)[:batch].tolist()
            keys = [doc_keys[i] for i in idx]
            pos = [[j for j, k in enumerate(keys) if k == doc_keys[i]] for i in idx]
            S = self.upper_pool([q_states[i] for i in idx], n_frozen) @ self.upper_pool([d_states[i] for i in idx], n_frozen).T
            loss = in_batch_margin_loss(S, pos)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self.model.eval()
        return losses


def _additive_mask(mask: torch.Tensor, dtype) -> torch.Tensor:
    """(B, 1, 1, L) additive attention mask: 0 on real tokens, the dtype's minimum on padding."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _layer(layer, h: torch.Tensor, ext: torch.Tensor) -> torch.Tensor:
    o = layer(h, attention_mask=ext)
    return o[0] if isinstance(o, tuple) else o


def dot_search(queries, docs, k: int):
    """``D, I`` (n_q, min(k, n)): exact maximum inner product search (``kernels.topk.topk_search``, metric dot)."""
    from simrepro.kernels.topk import topk_search

    Q, X = np.asarray(queries, np.float32), np.asarray(docs, np.float32)
    if Q.ndim != 2 or X.ndim != 2 or Q.shape[1] != X.shape[1]:
        raise ValueError(f"queries (n_q, d) and docs (n, d) must share d, got {Q.shape}, {X.shape}")
    if not (np.isfinite(Q).all() and np.isfinite(X).all()):
        raise ValueError("queries or docs contain NaN or inf: check the embeddings")
    if X.shape[0] == 0:
        raise ValueError("no documents to search")
    D, I = topk_search(Q, X, min(k, X.shape[0]), metric="dot", device="cpu")
    return np.asarray(D), np.asarray(I)
