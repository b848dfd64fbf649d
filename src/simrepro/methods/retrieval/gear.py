r"""GeAR-style retrieval with a localisation head (Liu et al., "GeAR: Generation Augmented Retrieval", ACL 2025
Findings), scaled down to adapters over frozen sentence embeddings.

GeAR trains a bi-encoder (query q, document d: s(q, d) = cos(E_q(q), E_d(d))) jointly with a fusion encoder
(the query's representation attends over the document's token states) and a decoder that generates the
relevant text of the document; as a *retriever* only the bi-encoder runs, so retrieval costs what a bi-encoder
costs. Here (the text decoder becomes a sentence pointer; the token states become sentence embeddings):

- inputs: frozen all-MiniLM-L6-v2 embeddings x_q (query), x_d (whole document), x_{d,i} (its sentences),
  all (·, D) float32 unit rows, D = 384;
- bi-encoder: q = ‖x_q + A x_q‖⁻¹(x_q + A x_q), d = ‖x_d + B x_d‖⁻¹(x_d + B x_d), A, B ∈ R^{D×D} zero-initialised
  (start = frozen MiniLM); s(q, d) = q·d / τ;
- fusion + localisation: s_i = the document tower applied to x_{d,i}; tokens t_0 = P q + e_query,
  t_i = P s_i + e_pos(i) (P ∈ R^{H×D}), one Transformer encoder layer (self-attention over [t_0; t_1..t_n],
  padding masked), logit_i = w·h_i + α · q·s_i (α initialised to 1/τ, so the untrained head is the cosine
  baseline); p(i | q, d) = softmax_i(logit_i) over the document's n sentences;
- loss (paper: contrastive + generation): L = CE_docs(q·Dᵀ/τ, gold doc) + λ · CE_sents(logits, gold sentence),
  the retrieval softmax over all training documents; λ = 0 is the bi-encoder alone.

Retrieval cost per query: one D×D adapter (2D² flops) + N·2D dot flops, the same for λ = 0 and λ > 0 (the
fusion layer never runs at retrieval); :func:`retrieval_flops` / :func:`localisation_flops` count them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_emb(name: str, x: np.ndarray, dim: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, dim) array, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} has dim {x.shape[1]}, expected {dim}: encode all texts with the same model")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf: re-encode the texts (a NaN row cannot be ranked)")
    return x


def pack_sentences(sent_emb: np.ndarray, doc_of_sent: np.ndarray, n_docs: int, max_sents: int):
    """(n_docs, max_sents, D) sentence embeddings per document (in order) and an (n_docs, max_sents) bool mask
    of real sentences. ``doc_of_sent`` must be non-decreasing (sentences listed document by document)."""
    sent_emb = _check_emb("sent_emb", sent_emb)
    doc_of_sent = np.asarray(doc_of_sent, dtype=np.int64)
    if len(doc_of_sent) != len(sent_emb):
        raise ValueError("doc_of_sent needs one entry per sentence embedding")
    if len(doc_of_sent) and (np.any(np.diff(doc_of_sent) < 0) or doc_of_sent.min() < 0 or doc_of_sent.max() >= n_docs):
        raise ValueError("doc_of_sent must be non-decreasing document indices in [0, n_docs)")
    out = np.zeros((n_docs, max_sents, sent_emb.shape[1]), np.float32)
    mask = np.zeros((n_docs, max_sents), bool)
    pos = np.zeros(n_docs, np.int64)
    for e, d in zip(sent_emb, doc_of_sent):
        if pos[d] >= max_sents:
            raise ValueError(f"document {d} has more than max_sents={max_sents} sentences")
        out[d, pos[d]] = e
        mask[d, pos[d]] = True
        pos[d] += 1
    return out, mask


@dataclass
class GearConfig:
    dim: int = 384
    hidden: int = 128
    heads: int = 4
    max_sents: int = 12
    tau: float = 0.05
    lam: float = 1.0            # weight of the localisation loss; 0 = bi-encoder alone
    lr: float = 2e-3
    epochs: int = 10
    batch: int = 128
    weight_decay: float = 0.0


def _torch_model(cfg: GearConfig):
    import torch
    from torch import nn

    class Gear(nn.Module):
        def __init__(self):
            super().__init__()
            self.A = nn.Linear(cfg.dim, cfg.dim, bias=False)
            self.B = nn.Linear(cfg.dim, cfg.dim, bias=False)
            nn.init.zeros_(self.A.weight); nn.init.zeros_(self.B.weight)
            self.P = nn.Linear(cfg.dim, cfg.hidden)
            self.pos = nn.Embedding(cfg.max_sents + 1, cfg.hidden)      # index 0 = the query token
            self.layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 2 * cfg.hidden, dropout=0.0,
                                                    batch_first=True)
            self.w = nn.Linear(cfg.hidden, 1)
            self.alpha = nn.Parameter(torch.tensor(1.0 / cfg.tau))

        def query(self, x):
            return nn.functional.normalize(x + self.A(x), dim=-1)

        def doc(self, x):
            return nn.functional.normalize(x + self.B(x), dim=-1)

        def locate(self, q, S, mask):
            """q (b, D) towered queries; S (b, n, D) raw sentence embeddings; mask (b, n) → logits (b, n)."""
            s = self.doc(S)
            n = S.shape[1]
            tok = torch.cat([self.P(q)[:, None] + self.pos.weight[0], self.P(s) + self.pos.weight[1:n + 1]], 1)
            pad = torch.cat([torch.zeros_like(mask[:, :1]), ~mask], 1)
            h = self.layer(tok, src_key_padding_mask=pad)[:, 1:]
            logit = self.w(h).squeeze(-1) + self.alpha * (s * q[:, None]).sum(-1)
            return logit.masked_fill(~mask, float("-inf"))

    return Gear()


class GearModel:
    """Train with :meth:`fit`; retrieve with :meth:`retrieval_scores` (bi-encoder only); localise with
    :meth:`localise` (fusion layer over one document per query)."""

    def __init__(self, cfg: GearConfig, seed: int = 0):
        import torch
        self.cfg = cfg
        torch.manual_seed(seed)
        self.net = _torch_model(cfg)
        self.seed = seed
        self.losses: list[tuple[float, float]] = []

    def fit(self, q_emb, doc_emb, sents, mask, q_doc, q_sent):
        """q_emb (nq, D) training queries; doc_emb (N, D) training documents; sents, mask from
        :func:`pack_sentences` over the same N documents; q_doc, q_sent gold indices. Full softmax over the N
        training documents for the retrieval loss; the localisation loss over the gold document's sentences."""
        import torch
        cfg = self.cfg
        q_emb = _check_emb("q_emb", q_emb, cfg.dim); doc_emb = _check_emb("doc_emb", doc_emb, cfg.dim)
        q_doc = np.asarray(q_doc, np.int64); q_sent = np.asarray(q_sent, np.int64)
        if len(q_emb) == 0:
            raise ValueError("no training queries")
        if not (mask[q_doc, q_sent]).all():
            raise ValueError("a gold sentence index points at padding: check q_sent against the packed documents")
        Q, Dm = torch.from_numpy(q_emb), torch.from_numpy(doc_emb)
        S, M = torch.from_numpy(np.asarray(sents, np.float32)), torch.from_numpy(np.asarray(mask, bool))
        qd, qs = torch.from_numpy(q_doc), torch.from_numpy(q_sent)
        params = list(self.net.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        g = torch.Generator().manual_seed(self.seed)
        ce = torch.nn.functional.cross_entropy
        for _ in range(cfg.epochs):
            perm = torch.randperm(len(Q), generator=g)
            for b in range(0, len(Q), cfg.batch):
                idx = perm[b:b + cfg.batch]
                q = self.net.query(Q[idx])
                l_ret = ce(q @ self.net.doc(Dm).T / cfg.tau, qd[idx])
                loss = l_ret
                l_loc = torch.zeros(())
                if cfg.lam > 0:
                    l_loc = ce(self.net.locate(q, S[qd[idx]], M[qd[idx]]), qs[idx])
                    loss = loss + cfg.lam * l_loc
                opt.zero_grad(); loss.backward(); opt.step()
                self.losses.append((float(l_ret.detach()), float(l_loc.detach())))
        return self

    def embed_queries(self, q_emb) -> np.ndarray:
        import torch
        with torch.no_grad():
            return self.net.query(torch.from_numpy(_check_emb("q_emb", q_emb, self.cfg.dim))).numpy()

    def embed_docs(self, doc_emb) -> np.ndarray:
        import torch
        with torch.no_grad():
            return self.net.doc(torch.from_numpy(_check_emb("doc_emb", doc_emb, self.cfg.dim))).numpy()

    def retrieval_scores(self, q_emb, doc_emb) -> np.ndarray:
        """(nq, N) cosines of the towered query and document vectors: the bi-encoder alone."""
        return self.embed_queries(q_emb) @ self.embed_docs(doc_emb).T

    def localise(self, q_emb, sents, mask, q_doc, batch: int = 512) -> np.ndarray:
        """(nq, max_sents) sentence logits of each query over document ``q_doc[i]`` (−inf on padding)."""
        import torch
        q_doc = np.asarray(q_doc, np.int64)
        out = []
        with torch.no_grad():
            S, M = torch.from_numpy(np.asarray(sents, np.float32)), torch.from_numpy(np.asarray(mask, bool))
            Q = torch.from_numpy(_check_emb("q_emb", q_emb, self.cfg.dim))
            for b in range(0, len(Q), batch):
                d = torch.from_numpy(q_doc[b:b + batch])
                out.append(self.net.locate(self.net.query(Q[b:b + batch]), S[d], M[d]).numpy())
        return np.concatenate(out) if out else np.zeros((0, sents.shape[1]), np.float32)


def cosine_localise(q_emb, sents, mask, q_doc) -> np.ndarray:
    """Baseline: logit_i = cos(x_q, x_{d,i}) on the frozen embeddings (−inf on padding)."""
    q_emb = _check_emb("q_emb", q_emb)
    q_doc = np.asarray(q_doc, np.int64)
    S = np.asarray(sents, np.float32)[q_doc]
    logit = np.einsum("qd,qnd->qn", q_emb, S)
    return np.where(np.asarray(mask, bool)[q_doc], logit, -np.inf)


def top1_accuracy(logits, gold) -> np.ndarray:
    """Per query 1.0 if argmax of ``logits`` (first index on ties) equals ``gold``; a row without a finite
    logit is an error."""
    logits = np.asarray(logits, float)
    gold = np.asarray(gold, np.int64)
    if logits.ndim != 2 or len(logits) != len(gold):
        raise ValueError("logits must be (nq, n) with one gold index per row")
    if np.isnan(logits).any():
        raise ValueError("logits contain NaN")
    if len(logits) and not np.isfinite(logits).any(axis=1).all():
        raise ValueError("a row has no finite logit (an empty document)")
    return (np.argmax(logits, axis=1) == gold).astype(float)


def top1_accuracy_reference(logits, gold) -> np.ndarray:
    """Loop reference of :func:`top1_accuracy`."""
    out = []
    for row, g in zip(np.asarray(logits, float), gold):
        best, arg = -np.inf, -1
        for i, v in enumerate(row):
            if v > best:
                best, arg = v, i
        out.append(float(arg == g))
    return np.array(out)


def retrieval_flops(n_docs: int, dim: int) -> int:
    """Multiply-adds ×2 to score one query against ``n_docs`` pre-computed document vectors: the query tower
    (D×D adapter + normalisation ≈ 2D² + 3D) and N dot products (2ND). Independent of λ and of the fusion
    layer, which retrieval never runs."""
    return 2 * dim * dim + 3 * dim + 2 * n_docs * dim


def localisation_flops(n_sents: int, cfg: GearConfig) -> int:
    """Flops of the fusion layer over one (query, document) pair of n sentences (projection, attention,
    feed-forward, head; softmax/normalisation terms ignored): what localisation adds on top of retrieval."""
    t, H, D = n_sents + 1, cfg.hidden, cfg.dim
    proj = 2 * t * D * H + 2 * n_sents * D * D                    # P, and the document tower over the sentences
    attn = 2 * t * H * 3 * H + 2 * 2 * t * t * H + 2 * t * H * H  # qkv, scores + mix, out
    ff = 2 * t * H * 2 * H * 2
    return proj + attn + ff + 2 * n_sents * H + 2 * n_sents * D


def split_documents(n_docs: int, test_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded document-disjoint split: (train doc ids, test doc ids), both sorted."""
    if not 0 < test_frac < 1 or n_docs < 2:
        raise ValueError(f"need n_docs ≥ 2 and 0 < test_frac < 1, got {n_docs}, {test_frac}")
    perm = np.random.default_rng(seed).permutation(n_docs)
    n_test = min(n_docs - 1, max(1, round(test_frac * n_docs)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def _ranks_metrics(scores: np.ndarray, gold: np.ndarray, k: int) -> dict[str, float]:
    """recall@k and map@k (= MRR@k with one relevant document) through :mod:`simrepro.metrics.ir`."""
    from simrepro.metrics import ir
    qrels = ir.qrels_from_pairs((q, int(g), 1) for q, g in enumerate(gold))
    kk = min(k, scores.shape[1])
    idx = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
    run = ir.run_from_topk(np.take_along_axis(scores, idx, 1), idx, list(range(len(gold))), keep_order=True)
    res = ir.evaluate(qrels, run, (f"recall@{k}", f"map@{k}", "recall@1"))
    return {f"r@{k}": res[f"recall@{k}"], f"map@{k}": res[f"map@{k}"], "r@1": res["recall@1"]}


def run_seed(task, emb: dict, cfg: GearConfig, *, seed: int, test_frac: float = 0.5, k: int = 5,
             bm25_doc_scores: np.ndarray | None = None, bm25_sent_scores: np.ndarray | None = None) -> dict:
    """One seed of the experiment on a :class:`~simrepro.data.lee_localisation.LocalisationTask`.

    ``emb`` holds frozen embeddings ``q`` (queries), ``d`` (documents), ``s`` (sentences, document by
    document). Split the documents (seeded), train the joint model (λ = cfg.lam) and the bi-encoder alone
    (λ = 0) from the same initialisation seed on the training documents' queries (all variants), evaluate on the
    test documents' variant-0 queries: retrieval among the test documents (recall@k, map@k) for frozen MiniLM,
    BM25 (if scores given, (nq_all, N_all)), bi-only and joint; localisation R@1 inside the gold document for
    the cosine baseline, BM25 (sentence scores (nq_all, n_sents_all)) and the joint model's fusion head; and
    end-to-end (top-1 retrieved document is the gold one and its localised sentence is the gold one)."""
    from dataclasses import replace
    import time

    n_docs = len(task.docs)
    train, test = split_documents(n_docs, test_frac, seed)
    q_doc, q_sent, q_var = (np.asarray(a, np.int64) for a in (task.q_doc, task.q_sent, task.q_variant))
    doc_of_sent = np.repeat(np.arange(n_docs), [len(d) for d in task.docs])
    sents, mask = pack_sentences(emb["s"], doc_of_sent, n_docs, cfg.max_sents)
    pos = np.full(n_docs, -1); pos[train] = np.arange(len(train))
    tpos = np.full(n_docs, -1); tpos[test] = np.arange(len(test))
    tr_q = np.flatnonzero(pos[q_doc] >= 0)
    te_q = np.flatnonzero((tpos[q_doc] >= 0) & (q_var == 0))
    out: dict = {"n_train_docs": len(train), "n_test_docs": len(test), "n_train_q": len(tr_q), "n_test_q": len(te_q)}
    models, secs = {}, {}
    for name, lam in (("joint", cfg.lam), ("bi", 0.0)):
        t0 = time.perf_counter()
        models[name] = GearModel(replace(cfg, lam=lam), seed=seed).fit(
            emb["q"][tr_q], emb["d"][train], sents[train], mask[train], pos[q_doc[tr_q]], q_sent[tr_q])
        secs[name] = time.perf_counter() - t0
    out["train_seconds"] = secs
    gold_doc = tpos[q_doc[te_q]]
    scores = {"minilm": emb["q"][te_q] @ emb["d"][test].T,
              "bi": models["bi"].retrieval_scores(emb["q"][te_q], emb["d"][test]),
              "joint": models["joint"].retrieval_scores(emb["q"][te_q], emb["d"][test])}
    if bm25_doc_scores is not None:
        scores["bm25"] = np.asarray(bm25_doc_scores)[te_q][:, test]
    for name, S in scores.items():
        for m, v in _ranks_metrics(S, gold_doc, k).items():
            out[f"{m}_{name}"] = v
    loc = {"cosine": cosine_localise(emb["q"][te_q], sents, mask, q_doc[te_q]),
           "joint": models["joint"].localise(emb["q"][te_q], sents, mask, q_doc[te_q])}
    if bm25_sent_scores is not None:
        B = np.full((len(te_q), cfg.max_sents), -np.inf)
        start = np.concatenate([[0], np.cumsum([len(d) for d in task.docs])])
        for i, q in enumerate(te_q):
            d = q_doc[q]
            B[i, :len(task.docs[d])] = np.asarray(bm25_sent_scores)[q, start[d]:start[d + 1]]
        loc["bm25"] = B
    for name, L in loc.items():
        out[f"loc_r1_{name}"] = float(top1_accuracy(L, q_sent[te_q]).mean())
    # end to end: the joint model retrieves (top-1 among the test documents), then localises in what it retrieved
    top1 = test[np.argmax(scores["joint"], axis=1)]
    L = models["joint"].localise(emb["q"][te_q], sents, mask, top1)
    out["e2e_r1_joint"] = float(((top1 == q_doc[te_q]) & (np.argmax(L, 1) == q_sent[te_q])).mean())
    top1c = test[np.argmax(scores["minilm"], axis=1)]
    Lc = cosine_localise(emb["q"][te_q], sents, mask, top1c)
    out["e2e_r1_cosine"] = float(((top1c == q_doc[te_q]) & (np.argmax(Lc, 1) == q_sent[te_q])).mean())
    out["losses"] = {n: np.array(m.losses) for n, m in models.items()}
    return out
