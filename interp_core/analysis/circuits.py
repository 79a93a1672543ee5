"""QK / OV circuits, copying scores, composition scores, virtual weights (docs/methods.md §3).

Row convention throughout (docs/methods.md A5): full QK ``E W_Q W_K^T E^T`` is [V_query, V_key],
full OV ``E W_V W_O W_U`` is [V_source, V_out]. Every circuit is a
:class:`FactoredMatrix`, never a dense V x V array.

LayerNorm: by default the model is folded first (:func:`fold_model`: LN gains in the
reading weights, writing weights and W_U centred, value biases in b_O), and the token
embedding entering a head is ``E = LNPre(W_E)`` (each row normalised, as the first LN
would). The final LN's scale is not applied to head outputs (it depends on the whole
stream); only its folded gain is. ``embed="effective"`` uses ``W_E + MLP0(W_E)`` for
models with MLPs (GPT-2 practice, docs/methods.md §3.2). Positional embeddings and biases are
left out of the token-token circuits. Pass ``fold=False`` when the model is already
folded (or to reproduce TransformerLens on raw weights).

Examples:
    >>> ov = full_ov(model, 0, 3)                   # FactoredMatrix [V, V]
    >>> ov_copying_score(model, 0, 3)               # in [-1, 1]; +1 = copying
    >>> raw, minus = composition_scores(model, "K") # [L, H, L, H] each
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from interp_core.analysis.bigrams import lnpre
from interp_core.analysis.factored import FactoredMatrix
from interp_core.analysis.folding import fold_model
from interp_core.models.transformer import Transformer

__all__ = [
    "all_ov_copying_scores",
    "circuit_embedding",
    "composition_baseline",
    "composition_scores",
    "full_ov",
    "full_qk",
    "kcomp_circuit",
    "ov_copying_score",
    "path_expansion",
    "skip_trigrams",
    "topk_accuracy",
    "virtual_weights",
]


def _prepare(model: Transformer, fold: bool) -> Transformer:
    return fold_model(model) if fold else model


def _weights(model: Transformer, name: str) -> torch.Tensor:
    """Attention weight ``name`` stacked over layers [layer, head, ...], float64."""
    return torch.stack([getattr(b.attn, name).detach() for b in model.blocks]).double()


@torch.no_grad()
def circuit_embedding(model: Transformer, embed: str = "W_E") -> torch.Tensor:
    """Token vectors entering the heads [V, d_model]: LNPre(W_E) (LN models) or W_E.

    ``embed="effective"``: ``W_E + MLP0(LN2(W_E))`` for models with MLPs, then LNPre.
    Expects an already folded model.
    """
    cfg = model.cfg
    E = model.embed.W_E.detach().float()  # [V, d_model]
    if embed == "effective" and not cfg.attn_only and cfg.n_layers > 0:
        block = model.blocks[0]
        E = E + block.mlp(block.ln2(E) if cfg.has_ln else E)  # [V, d_model]
    elif embed not in ("W_E", "effective"):
        raise ValueError(f"embed must be 'W_E' or 'effective', got {embed!r}")
    return lnpre(E, cfg.eps) if cfg.has_ln else E


@torch.no_grad()
def full_qk(
    model: Transformer, layer: int, head: int, *, embed: str = "W_E", fold: bool = True
) -> FactoredMatrix:
    """Full QK circuit ``E W_Q^h (E W_K^h)^T`` [V_query, V_key] (no 1/sqrt(d_head))."""
    model = _prepare(model, fold)
    E = circuit_embedding(model, embed)  # [V, d_model]
    attn = model.blocks[layer].attn
    return FactoredMatrix(E @ attn.W_Q[head].float(), (E @ attn.W_K[head].float()).T)


@torch.no_grad()
def full_ov(
    model: Transformer, layer: int, head: int, *, embed: str = "W_E", fold: bool = True
) -> FactoredMatrix:
    """Full OV circuit ``E W_V^h W_O^h W_U`` [V_source, V_out]."""
    model = _prepare(model, fold)
    E = circuit_embedding(model, embed)  # [V, d_model]
    attn = model.blocks[layer].attn
    W_U = model.unembed.W_U.detach().float()  # [d_model, V]
    return FactoredMatrix(E @ attn.W_V[head].float(), attn.W_O[head].float() @ W_U)


@torch.no_grad()
def kcomp_circuit(
    model: Transformer,
    prev: tuple[int, int],
    head: tuple[int, int],
    *,
    embed: str = "W_E",
    fold: bool = True,
) -> FactoredMatrix:
    """K-composition full circuit ``FM(E W_Q^h, (E W_OV^p W_K^h)^T)`` [V_query, V_prevtoken].

    Entry (t, s): how much query token t attends to a key whose previous token is s
    (when ``prev`` is a previous-token head). The diagonal dominates for induction heads.
    """
    model = _prepare(model, fold)
    E = circuit_embedding(model, embed)  # [V, d_model]
    p, h = model.blocks[prev[0]].attn, model.blocks[head[0]].attn
    key_side = E @ p.W_V[prev[1]].float() @ p.W_O[prev[1]].float() @ h.W_K[head[1]].float()
    return FactoredMatrix(E @ h.W_Q[head[1]].float(), key_side.T)  # key_side: [V, d_head]


def _copying(BA: torch.Tensor) -> torch.Tensor:
    eig = torch.linalg.eigvals(BA.double())  # [..., d_head] complex
    total = eig.abs().sum(-1)
    return torch.where(total > 0, eig.sum(-1).real / total.clamp_min(1e-300), 0.0)  # inert head: 0


@torch.no_grad()
def all_ov_copying_scores(
    model: Transformer, *, embed: str = "W_E", fold: bool = True
) -> torch.Tensor:
    """OV copying score of every head [layer, head] (see :func:`ov_copying_score`).

    Uses the d_head x d_head matrix ``W_O^h (W_U E) W_V^h`` (a cyclic permutation of
    ``E W_V^h W_O^h W_U``, so the same non-zero spectrum); cost O(V d^2) once for all heads.
    """
    model = _prepare(model, fold)
    E = circuit_embedding(model, embed).double()  # [V, d_model]
    G = model.unembed.W_U.detach().double() @ E  # [d_model, d_model]
    W_V, W_O = _weights(model, "W_V"), _weights(model, "W_O")  # [L, H, d, dh], [L, H, dh, d]
    return _copying(W_O @ G @ W_V).float()  # [L, H]


def ov_copying_score(
    model: Transformer, layer: int, head: int, *, embed: str = "W_E", fold: bool = True
) -> float:
    """Elhage's eigenvalue copying score ``sum(lambda) / sum(|lambda|)`` of the full OV circuit.

    In [-1, 1]: +1 all eigenvalues positive (copying), -1 anti-copying, ~0 no consistent
    copying (docs/methods.md §3.3). Orientation-invariant.
    """
    return float(all_ov_copying_scores(model, embed=embed, fold=fold)[layer, head])


@torch.no_grad()
def topk_accuracy(
    fm: FactoredMatrix, k: int = 1, *, block: int = 1024, rows: torch.Tensor | None = None
) -> float:
    """Fraction of source rows t whose own token is among the top-k of row t (docs/methods.md §3.4).

    Args:
        fm: A square circuit [V, V] (row convention: source rows).
        k: Top-k.
        block: Rows materialised at once.
        rows: Restrict to these source ids (default: all).
    """
    hits, total = 0, 0
    for ids, chunk in fm.row_blocks(block, rows):
        top = chunk.topk(k, dim=-1).indices  # [block, k]
        hits += int((top == ids[:, None]).any(-1).sum())
        total += len(ids)
    return hits / max(total, 1)


def _fro2_chain(G_left: torch.Tensor, M: torch.Tensor, G_right: torch.Tensor) -> torch.Tensor:
    """``||X1 M X2||_F^2 = trace(G1 M G2 M^T)`` with ``G1 = X1^T X1``, ``G2 = X2 X2^T``."""
    return ((G_left @ M) * (M @ G_right)).sum((-2, -1))


_RIGHT = {"Q": ("W_Q", "W_K"), "K": ("W_K", "W_Q"), "V": ("W_V", "W_O")}
"""Composition mode -> (weight read by the later head, its partner): right matrix is
``W_Q W_K^T`` (Q), ``W_K W_Q^T`` (K) or ``W_V W_O`` (V)."""


@lru_cache(maxsize=32)
def composition_baseline(d_model: int, d_head: int, n_samples: int = 200, seed: int = 0) -> float:
    """Mean composition score of independent random Gaussian head matrices (ARENA baseline).

    Rotation-invariant random factors give E[score^2] = 1/d, so this is ~1/sqrt(d_model)
    (docs/methods.md §3.5); the same for Q, K and V composition.
    """
    gen = torch.Generator().manual_seed(seed)
    eye = torch.eye(d_head, dtype=torch.float64)
    scores = []
    for start in range(0, n_samples, 25):  # 25 samples at a time bounds memory at d_model 768
        n = min(25, n_samples - start)
        X = torch.randn(4, n, d_model, d_head, generator=gen, dtype=torch.float64)
        W_V, W_O, W_Q, W_K = X[0], X[1].transpose(-2, -1), X[2], X[3]
        G_v, G_k = W_V.mT @ W_V, W_K.mT @ W_K  # [n, dh, dh]
        num = _fro2_chain(G_v, W_O @ W_Q, G_k)
        den = _fro2_chain(G_v, eye, W_O @ W_O.mT) * _fro2_chain(W_Q.mT @ W_Q, eye, G_k)
        scores.append((num / den).sqrt())
    return float(torch.cat(scores).mean())


@torch.no_grad()
def composition_scores(
    model: Transformer, mode: str = "K", baseline: bool = True, *, fold: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Q-, K- or V-composition between every earlier head and every later head.

    ``score = ||W_OV^{h1} R^{h2}|| / (||W_OV^{h1}|| ||R^{h2}||)`` (Frobenius), with
    ``R = W_QK`` (Q), ``W_QK^T`` (K) or ``W_OV`` (V), row convention (docs/methods.md §3.5).
    Norms come from d_head x d_head Gram matrices, so the cost is O(L^2 H^2 d d_head^2).

    Args:
        model: The model (folded first unless ``fold=False``, docs/methods.md: LN gains distort).
        mode: "Q", "K" or "V".
        baseline: Subtract :func:`composition_baseline` in the second output.
        fold: Fold the model first.

    Returns:
        ``raw`` [src_layer, src_head, dst_layer, dst_head] (0 where dst_layer <= src_layer,
        as TransformerLens) and ``raw - baseline`` (also 0 there).
    """
    if mode not in _RIGHT:
        raise ValueError(f"mode must be 'Q', 'K' or 'V', got {mode!r}")
    model = _prepare(model, fold)
    cfg = model.cfg
    W_V, W_O = _weights(model, "W_V"), _weights(model, "W_O")  # [L, H, d, dh], [L, H, dh, d]
    read_name, partner_name = _RIGHT[mode]
    R, P = _weights(model, read_name), _weights(model, partner_name)  # [L, H, d, dh] or W_O
    G_left = W_V.mT @ W_V  # [L, H, dh, dh]
    G_right = P @ P.mT if mode == "V" else P.mT @ P  # [L, H, dh, dh]
    eye = torch.eye(cfg.d_head, dtype=torch.float64)
    ov2 = _fro2_chain(G_left, eye, W_O @ W_O.mT)  # [L, H]  ||W_OV||^2
    right2 = _fro2_chain(R.mT @ R, eye, G_right)  # [L, H]  ||R||^2
    M = torch.einsum("ahed,bgdf->ahbgef", W_O, R)  # [L1, H1, L2, H2, dh, dh]
    num = _fro2_chain(G_left[:, :, None, None], M, G_right[None, None])  # [L1, H1, L2, H2]
    den = ov2[:, :, None, None] * right2[None, None]
    raw = torch.where(den > 0, num / den.clamp_min(1e-300), 0.0).sqrt()  # zero head: score 0
    L = cfg.n_layers
    later = torch.arange(L)[:, None, None, None] < torch.arange(L)[None, None, :, None]
    raw = torch.where(later, raw, torch.zeros_like(raw)).float()
    base = composition_baseline(cfg.d_model, cfg.d_head) if baseline else 0.0
    return raw, torch.where(later, raw - base, torch.zeros_like(raw))


@torch.no_grad()
def virtual_weights(model: Transformer, mode: str = "V", *, fold: bool = True) -> torch.Tensor:
    """Head-to-head virtual weights ``W_O^{h1} W_X^{h2}`` [L1, H1, L2, H2, d_head, d_head].

    ``mode`` picks the reading matrix X: "Q", "K" or "V" (docs/methods.md §3.6: a writer [k1, d]
    times a reader [d, k2]). Zero where L2 <= L1.
    """
    if mode not in _RIGHT:
        raise ValueError(f"mode must be 'Q', 'K' or 'V', got {mode!r}")
    model = _prepare(model, fold)
    W_O, R = _weights(model, "W_O"), _weights(model, _RIGHT[mode][0])
    out = torch.einsum("ahed,bgdf->ahbgef", W_O, R).float()  # [L1, H1, L2, H2, dh, dh]
    L = model.cfg.n_layers
    later = torch.arange(L)[:, None, None, None] < torch.arange(L)[None, None, :, None]
    return out * later[..., None, None]


@torch.no_grad()
def path_expansion(model: Transformer, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits of an attention-only model without LN split into paths (docs/methods.md §3.6).

    Terms (each [batch, pos, d_vocab]): ``direct`` (embedding + positions straight to the
    unembedding), ``bias`` (b_U and every b_O, including layer-0 b_O read by layer-1
    heads), ``L{l}H{h}`` (one head reading the embedding), and for two layers
    ``L0H{a}>L1H{b}`` (virtual heads: V-composition). Attention patterns come from a
    forward pass, so Q/K-composition is inside them. The terms sum to the logits.

    Raises:
        ValueError: models with LN or MLPs, or more than 2 layers.
    """
    cfg = model.cfg
    if cfg.has_ln or not cfg.attn_only or cfg.n_layers > 2:
        raise ValueError("path_expansion needs an attention-only model without LN, <= 2 layers")
    model = fold_model(model, fold_ln=False, center_writing=False, center_unembed_=False)
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=names)
    W_U = model.unembed.W_U
    x0 = model.embed.W_E[tokens]  # [batch, pos, d_model]
    if cfg.has_pos:
        x0 = x0 + model.pos_embed.W_pos[: tokens.shape[1]]
    terms = {"direct": x0 @ W_U, "bias": model.unembed.b_U.expand(*tokens.shape, -1).clone()}
    ov = [b.attn.W_V @ b.attn.W_O for b in model.blocks]  # [head, d_model, d_model] per layer
    moved = {}  # (layer, head) -> [batch, pos, d_model]: head output from the embedding
    for layer, block in enumerate(model.blocks):
        A = cache[names[layer]]  # [batch, head, query_pos, key_pos]
        terms["bias"] += block.attn.b_O @ W_U
        for h in range(cfg.n_heads):
            moved[layer, h] = A[:, h] @ x0 @ ov[layer][h]  # [batch, pos, d_model]
            terms[f"L{layer}H{h}"] = moved[layer, h] @ W_U
        if layer == 1:
            b0 = model.blocks[0].attn.b_O  # rows of A sum to 1: b_O^0 passes through as is
            terms["bias"] += sum(b0 @ ov[1][h] for h in range(cfg.n_heads)) @ W_U
            for a in range(cfg.n_heads):
                for h in range(cfg.n_heads):
                    virt = A[:, h] @ moved[0, a] @ ov[1][h]  # [batch, pos, d_model]
                    terms[f"L0H{a}>L1H{h}"] = virt @ W_U
    return terms


@torch.no_grad()
def skip_trigrams(
    model: Transformer,
    layer: int = 0,
    *,
    candidates: torch.Tensor | None = None,
    k_out: int = 5,
    k_dest: int = 5,
    n_per_head: int = 50,
    fold: bool = True,
    block: int = 512,
) -> dict[str, np.ndarray]:
    """Skip-trigrams ``[src] ... [dest] -> [out]`` of each head of ``layer`` (docs/methods.md §3.7).

    For each head and each ``src`` in ``candidates``: ``out`` in top-``k_out`` of
    ``OV_full[src, :]`` and ``dest`` in top-``k_dest`` of ``QK_full[:, src]``; triples are
    ranked by the OV entry, then the QK entry, and the best ``n_per_head`` kept.

    Returns:
        Columns (equal-length arrays): ``head``, ``src``, ``dest``, ``out``, ``ov`` (full OV
        logit contribution), ``qk`` (full QK attention logit, unscaled), ``copying``
        (out == src).
    """
    model = _prepare(model, fold)
    cfg = model.cfg
    E = circuit_embedding(model)  # [V, d_model]
    cand = torch.arange(cfg.d_vocab) if candidates is None else torch.as_tensor(candidates)
    attn, W_U = model.blocks[layer].attn, model.unembed.W_U.detach().float()
    cols: dict[str, list[np.ndarray]] = {
        c: [] for c in ("head", "src", "dest", "out", "ov", "qk", "copying")
    }
    for h in range(cfg.n_heads):
        q = E @ attn.W_Q[h].float()  # [V, d_head]
        heads_rows = []
        for start in range(0, len(cand), block):
            src = cand[start : start + block]
            ov_v, out = (E[src] @ attn.W_V[h].float() @ attn.W_O[h].float() @ W_U).topk(k_out)
            qk_v, dest = (q @ (E[src] @ attn.W_K[h].float()).T).topk(k_dest, dim=0)  # [k, blk]
            n = len(src)
            s = src[:, None, None].expand(n, k_out, k_dest)
            heads_rows.append(
                (
                    s,
                    out[:, :, None].expand(n, k_out, k_dest),
                    dest.T[:, None, :].expand(n, k_out, k_dest),
                    ov_v[:, :, None].expand(n, k_out, k_dest),
                    qk_v.T[:, None, :].expand(n, k_out, k_dest),
                )
            )
        s, o, d, ov, qk = (
            torch.cat([r[i].reshape(-1) for r in heads_rows]).cpu() for i in range(5)
        )
        order = np.lexsort((-qk.numpy(), -ov.numpy()))[:n_per_head]
        for name, col in zip(("src", "dest", "out", "ov", "qk"), (s, d, o, ov, qk)):
            cols[name].append(col.numpy()[order])
        cols["head"].append(np.full(len(order), h))
        cols["copying"].append(s.numpy()[order] == o.numpy()[order])
    return {name: np.concatenate(parts) for name, parts in cols.items()}
