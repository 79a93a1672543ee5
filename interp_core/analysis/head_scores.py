"""Attention-pattern head scores (docs/methods.md §2) and the head taxonomy labels.

Every score reads attention patterns ``A`` (softmax weights, rows sum to 1, zero above the
diagonal). Pass them stacked over layers, ``[layer, batch, head, query_pos, key_pos]``, to get
a ``[layer, head]`` table, or one layer ``[batch, head, query_pos, key_pos]`` to get ``[head]``.
Row ``i`` is the query (destination), column ``j`` the key (source).

Conventions (docs/methods.md Appendix A1-A4):

- The primary score of each kind is the **restricted stripe mean**: the mean attention on
  the target key, over the query rows that have a target. A perfect head scores 1.
- Row 0 is excluded from current-token and first-token scores (its only key is itself).
- Repeated random tokens (RRT) are ``[BOS, r_1..r_n, r_1..r_n]`` (BOS prepended), so the
  duplicate of row ``i in [n+1, 2n]`` is ``i - n`` and its induction target ``i - n + 1``.
- :func:`tl_detect_head` reproduces TransformerLens ``detect_head`` exactly (a perfect
  induction head gets ``n / (2n + 1)`` there); use it only for cross-checks.

The taxonomy labels come from :data:`LABEL_RULES`, the one place the thresholds live;
:func:`score_heads` runs a model over the standard inputs and returns every score.

Examples:
    >>> pats = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"] for l in range(L)])
    >>> induction_score(pats, n=50)          # [layer, head], 1.0 for a perfect head
"""

from __future__ import annotations

import math

import numpy as np
import torch

LABEL_RULES: tuple[tuple[str, str, float], ...] = (
    ("induction", "induction", 0.4),
    ("duplicate_token", "duplicate_token", 0.4),
    ("previous_token", "prev_token", 0.4),
    ("current_token", "current_token", 0.4),
    ("first_token", "first_token", 0.4),
)
"""(label, score column, threshold), checked in order: the first score above its threshold
names the head (docs/methods.md §2.2-2.6 use 0.4, the ARENA detector threshold). Heads matching none
fall through to :data:`POSITIONAL_RULES`."""

POSITIONAL_RULES: dict[str, float] = {"inv_positional": 0.9, "pos_frac": 0.5, "inv_content": 0.5}
"""docs/methods.md §2.10: ``positional`` if ``positional_inv > 0.9`` and ``positional_frac > 0.5``
(a head whose scores do not vary at all, e.g. an inert uniform head, counts as positional);
``content`` if ``positional_inv < 0.5``; otherwise ``mixed``."""


SCORE_DOCS: dict[str, str] = {
    "prev_token": "attention to the previous token (natural text)",
    "current_token": "attention to the query's own position, row 0 excluded (natural text)",
    "first_token": "attention to BOS / position 0, row 0 excluded (natural text)",
    "duplicate_token": "attention from the 2nd copy to the same token's 1st copy (RRT)",
    "induction": "attention to the token after the 1st copy of the current token (RRT)",
    "prefix_matching": "attention to the successors of every earlier copy (RRT with 3 repeats)",
    "entropy": "attention entropy / log(#keys): 0 = one key, 1 = uniform (natural text)",
    "entropy_nats": "attention entropy in nats (natural text)",
    "mean_distance": "mean query-key distance in tokens (natural text)",
    "mean_distance_norm": "mean distance / query position: 0 = self, 1 = BOS (natural text)",
    "induction_arena": "ARENA's diagonal(1 - n).mean() induction score (RRT)",
    "prev_token_rrt": "previous-token score on the RRT prompts",
    "duplicate_token_nat": "attention on all earlier copies of the query token (natural text)",
    "induction_nat": "attention on the successors of earlier copies (natural text)",
    "positional_inv": "1 - half the L1 distance between patterns on two random sequences",
    "positional_frac": "std of the position-position score term / sum of all term stds",
    "induction_tl": "TransformerLens detect_head('induction_head', 'mul') on RRT (max n/(2n+1))",
    "duplicate_tl": "TransformerLens detect_head('duplicate_token_head', 'mul') on RRT",
    "first_token_norm": "share of norm-based attention ||a f(x)|| going to BOS (natural text)",
}
"""One line per score column of ``heads/scores`` (shown by the Heads page)."""

UNIT_SCORES = ("prev_token", "current_token", "first_token", "duplicate_token", "induction",
               "prefix_matching", "entropy", "mean_distance_norm", "induction_arena",
               "prev_token_rrt", "duplicate_token_nat", "induction_nat", "positional_inv",
               "positional_frac", "first_token_norm")
"""Scores that are fractions in [0, 1] by definition (recorded as ``unit_scores`` in the store,
so maps of them can share a fixed colour domain across runs)."""


def _as5d(patterns: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if patterns.ndim == 4:
        return patterns.unsqueeze(0), True  # [layer=1, batch, head, query_pos, key_pos]
    if patterns.ndim != 5:
        raise ValueError(f"patterns must be [layer, batch, head, q, k] or [batch, head, q, k]; "
                         f"got shape {tuple(patterns.shape)}")
    return patterns, False


def _finish(scores: torch.Tensor, squeeze: bool) -> torch.Tensor:
    return scores[0] if squeeze else scores  # [head] or [layer, head]


def _stripe(patterns: torch.Tensor, rows: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Mean over batch and the given rows of ``A[..., rows, keys]`` -> [layer, head] (5-D input)."""
    picked = patterns[..., rows, keys]  # [layer, batch, head, n_rows]
    return picked.float().mean(dim=(1, 3))  # [layer, head]


def _rows(start: int, stop: int, device: torch.device) -> torch.Tensor:
    return torch.arange(start, stop, device=device)


def prev_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each query ``i >= 1`` to key ``i - 1`` (docs/methods.md §2.2)."""
    A, squeeze = _as5d(patterns)
    rows = _rows(1, A.shape[-1], A.device)
    return _finish(_stripe(A, rows, rows - 1), squeeze)


def current_token_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each query ``i >= 1`` to itself (row 0 excluded, §2.3)."""
    A, squeeze = _as5d(patterns)
    rows = _rows(1, A.shape[-1], A.device)
    return _finish(_stripe(A, rows, rows), squeeze)


def bos_score(patterns: torch.Tensor) -> torch.Tensor:
    """Mean attention from each query ``i >= 1`` to position 0 (BOS; §2.4)."""
    A, squeeze = _as5d(patterns)
    rows = _rows(1, A.shape[-1], A.device)
    return _finish(_stripe(A, rows, torch.zeros_like(rows)), squeeze)


def _check_rrt(T: int, n: int, repeats: int = 2) -> None:
    if T < 1 + repeats * n:
        raise ValueError(f"patterns of {T} positions cannot hold BOS + {repeats} x {n} tokens")


def _token_stripe(A: torch.Tensor, tokens: torch.Tensor, shift: int) -> torch.Tensor:
    """General text: per row, total attention on keys ``j + shift`` for every earlier
    duplicate ``j`` of the query token; averaged over rows with a target, then over batch."""
    T = A.shape[-1]
    same = tokens[:, :, None] == tokens[:, None, :]  # [batch, query_pos, key_pos]
    earlier = torch.ones(T, T, dtype=torch.bool, device=A.device).tril(-1)  # [query_pos, key_pos]
    dup = same & earlier  # [batch, query_pos, key_pos]: key j is an earlier copy of query i
    if shift:
        dup = torch.roll(dup, shifts=shift, dims=2)
        dup[:, :, :shift] = False  # TL drops the wrapped column
        dup &= torch.ones(T, T, dtype=torch.bool, device=A.device).tril()
    mass = (A.float() * dup[None, :, None]).sum(-1)  # [layer, batch, head, query_pos]
    has = dup.any(-1)  # [batch, query_pos]
    per_seq = mass.sum(-1) / has.sum(-1)[None, :, None]  # [layer, batch, head]; NaN if none
    return torch.nanmean(per_seq, dim=1)  # [layer, head]


def duplicate_score(patterns: torch.Tensor, n: int | None = None, *,
                    tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Duplicate-token score (§2.5).

    Args:
        patterns: [layer, batch, head, q, k] or [batch, head, q, k].
        n: RRT repeat length: mean attention from rows ``n+1..2n`` to ``i - n``.
        tokens: [batch, pos] ids for general text instead of ``n``: per row with an earlier
            copy of its token, the total attention on all earlier copies, averaged over
            those rows (and sequences with none are skipped).
    """
    A, squeeze = _as5d(patterns)
    if tokens is not None:
        return _finish(_token_stripe(A, tokens.to(A.device), 0), squeeze)
    if n is None:
        raise ValueError("duplicate_score needs the RRT repeat length n or the tokens")
    _check_rrt(A.shape[-1], n)
    rows = _rows(n + 1, 2 * n + 1, A.device)
    return _finish(_stripe(A, rows, rows - n), squeeze)


def induction_score(patterns: torch.Tensor, n: int | None = None, mode: str = "restricted", *,
                    tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Induction score (§2.6): attention to the token after the earlier copy.

    Args:
        patterns: [layer, batch, head, q, k] or [batch, head, q, k] on RRT(n).
        n: RRT repeat length.
        mode: "restricted" (rows ``n+1..2n``, target ``i - n + 1``; perfect = 1) or
            "arena" (ARENA's ``diagonal(1 - n).mean()``: rows ``n-1..2n``, so a perfect
            head resting on BOS scores ``(n+1)/(n+2)``).
        tokens: [batch, pos] ids for general text instead of ``n``: targets are ``j + 1`` for
            every earlier copy ``j`` of the query token (TL's induction detection pattern).
    """
    A, squeeze = _as5d(patterns)
    if tokens is not None:
        return _finish(_token_stripe(A, tokens.to(A.device), 1), squeeze)
    if n is None:
        raise ValueError("induction_score needs the RRT repeat length n or the tokens")
    _check_rrt(A.shape[-1], n)
    if mode == "restricted":
        rows = _rows(n + 1, 2 * n + 1, A.device)
    elif mode == "arena":
        rows = _rows(n - 1, A.shape[-1], A.device)
    else:
        raise ValueError(f"mode must be 'restricted' or 'arena', got {mode!r}")
    return _finish(_stripe(A, rows, rows - n + 1), squeeze)


def prefix_matching_score(patterns: torch.Tensor, n: int, R: int) -> torch.Tensor:
    """Prefix matching on RRT-k(n, R) (§2.7): per row in repeats ``2..R``, total attention on
    the successors of every earlier copy of its token; mean over those rows and the batch.

    Successor keys past the query are skipped; for ``R = 2`` this equals the restricted
    :func:`induction_score`.
    """
    A, squeeze = _as5d(patterns)
    _check_rrt(A.shape[-1], n, R)
    total = torch.zeros(A.shape[0], A.shape[2], device=A.device)  # [layer, head]
    count = 0
    for r in range(1, R):
        for p in range(n):
            i = 1 + r * n + p
            keys = [1 + c * n + p + 1 for c in range(r) if 1 + c * n + p + 1 <= i]
            total += A[:, :, :, i, keys].float().sum(-1).mean(1)
            count += 1
    return _finish(total / count, squeeze)


def attention_entropy(patterns: torch.Tensor, normalise: bool = True) -> torch.Tensor:
    """Mean entropy of the query rows ``i >= 1`` (§2.8), in nats or divided by ``log(i + 1)``."""
    A, squeeze = _as5d(patterns)
    A = A[..., 1:, :].float()  # [layer, batch, head, query_pos>=1, key_pos]
    ent = -torch.special.xlogy(A, A).sum(-1)  # [layer, batch, head, query_pos>=1]
    if normalise:
        ent = ent / torch.log(torch.arange(2, A.shape[-1] + 1, device=A.device, dtype=A.dtype))
    return _finish(ent.mean(dim=(1, 3)), squeeze)


def mean_attention_distance(patterns: torch.Tensor, normalise: bool = False) -> torch.Tensor:
    """Mean ``sum_j A_ij (i - j)`` over rows ``i >= 1`` (§2.9); ``normalise`` divides by ``i``
    (0 = attends to itself, 1 = attends to BOS)."""
    A, squeeze = _as5d(patterns)
    T = A.shape[-1]
    idx = torch.arange(T, device=A.device, dtype=torch.float32)
    dist = (idx[:, None] - idx[None, :]).clamp(min=0)  # [query_pos, key_pos]
    per_row = (A.float() * dist).sum(-1)[..., 1:]  # [layer, batch, head, query_pos>=1]
    if normalise:
        per_row = per_row / idx[1:]
    return _finish(per_row.mean(dim=(1, 3)), squeeze)


# ---------------------------------------------------------------- TransformerLens-exact
def tl_detection_pattern(tokens: torch.Tensor, kind: str) -> torch.Tensor:
    """TransformerLens's detection pattern [pos, pos] for one sequence ``tokens`` [pos].

    ``kind`` is "previous_token_head", "duplicate_token_head" or "induction_head".
    """
    T = tokens.shape[-1]
    if kind == "previous_token_head":
        det = torch.zeros(T, T)
        det[1:, :-1] = torch.eye(T - 1)
        return det.tril()
    dup = (tokens[None, :] == tokens[:, None]).float()  # [pos, pos]
    dup.fill_diagonal_(0)
    dup = dup.tril()
    if kind == "duplicate_token_head":
        return dup
    if kind == "induction_head":
        shifted = torch.roll(dup, shifts=1, dims=1)
        return torch.cat([torch.zeros(T, 1), shifted[:, 1:]], dim=1).tril()
    raise ValueError(f"unknown detection pattern {kind!r}")


def tl_detect_head(pattern_2d: torch.Tensor, detection_2d: torch.Tensor, measure: str = "mul",
                   exclude_bos: bool = False, exclude_current: bool = False) -> float:
    """TransformerLens ``compute_head_attention_similarity_score``, replicated exactly.

    ``"mul"``: attention on the detection pattern / total attention (exclusions zero column 0
    and/or the diagonal of A first, shrinking both sums). ``"abs"``: ``1 - sum|A - D| / T``
    rounded to 3 decimals (exclusions zero those entries of the difference only).
    """
    A = pattern_2d.detach().float().cpu().clone()
    D = detection_2d.float().cpu()
    if measure == "mul":
        if exclude_bos:
            A[:, 0] = 0
        if exclude_current:
            A.fill_diagonal_(0)
        return ((A * D).sum() / A.sum()).item()
    if measure != "abs":
        raise ValueError(f"measure must be 'mul' or 'abs', got {measure!r}")
    diff = (A - D).abs()
    if exclude_bos:
        diff[:, 0] = 0
    if exclude_current:
        diff.fill_diagonal_(0)
    return 1 - round((diff.mean() * len(diff)).item(), 3)


def tl_detect_heads(patterns: torch.Tensor, tokens: torch.Tensor, kind: str, **kwargs
                    ) -> torch.Tensor:
    """:func:`tl_detect_head` for every head, averaged over sequences as TL does for a list.

    Args:
        patterns: [layer, batch, head, q, k] (or one layer [batch, head, q, k]).
        tokens: [batch, pos] token ids the patterns were computed on.
        kind: TL head name (see :func:`tl_detection_pattern`).
        **kwargs: ``measure``, ``exclude_bos``, ``exclude_current``.
    """
    A, squeeze = _as5d(patterns)
    L, B, H = A.shape[:3]
    out = torch.zeros(L, H)
    for b in range(B):
        det = tl_detection_pattern(tokens[b].cpu(), kind)
        for layer in range(L):
            for h in range(H):
                out[layer, h] += tl_detect_head(A[layer, b, h], det, **kwargs) / B
    return _finish(out, squeeze)


# ---------------------------------------------------------------- positional vs content
def positional_invariance(patterns_a: torch.Tensor, patterns_b: torch.Tensor) -> torch.Tensor:
    """``1 - mean_i ||A_i(x) - A_i(x')||_1 / 2`` over rows ``i >= 1`` (§2.10, test 1).

    ``patterns_a`` and ``patterns_b`` come from two independent random sequences each (same
    shapes, no repeated token inside a sequence); positional heads score about 1.
    """
    A, squeeze = _as5d(patterns_a)
    B, _ = _as5d(patterns_b)
    l1 = (A[..., 1:, :].float() - B[..., 1:, :].float()).abs().sum(-1)  # [layer, batch, head, q]
    return _finish(1 - 0.5 * l1.mean(dim=(1, 3)), squeeze)


def _score_terms(model: torch.nn.Module, cache, layer: int) -> dict[tuple[str, str], torch.Tensor]:
    """Pre-softmax attention scores of ``layer`` split by (query part, key part).

    Parts of ``resid_pre``: token embedding, positional embedding, each earlier attention
    and MLP output; with LayerNorm each part is centred and divided by the frozen ``ln1``
    scale, and the LN bias joins the query/key biases as part ``bias``. Terms sum to the
    model's ``attn_scores`` (below the diagonal).
    """
    cfg = model.cfg
    parts = {"token": cache["hook_embed"]}
    if cfg.has_pos:
        parts["pos"] = cache["hook_pos_embed"]
    for earlier in range(layer):
        parts[f"attn{earlier}"] = cache[f"blocks.{earlier}.hook_attn_out"]
        if not cfg.attn_only:
            parts[f"mlp{earlier}"] = cache[f"blocks.{earlier}.hook_mlp_out"]
    block = model.blocks[layer]
    bias = torch.zeros(cfg.d_model, device=parts["token"].device)  # [d_model]
    if cfg.has_ln:
        scale = cache[f"blocks.{layer}.ln1.hook_scale"]  # [batch, pos, 1]
        parts = {k: (v - v.mean(-1, keepdim=True)) / scale * block.ln1.w for k, v in parts.items()}
        bias = block.ln1.b.detach()
    attn = block.attn
    q = {k: torch.einsum("bpd,hde->bphe", v, attn.W_Q) for k, v in parts.items()}
    k_ = {k: torch.einsum("bpd,hde->bphe", v, attn.W_K) for k, v in parts.items()}
    q["bias"] = (torch.einsum("d,hde->he", bias, attn.W_Q) + attn.b_Q)[None, None]  # [1, 1, head, e]
    k_["bias"] = (torch.einsum("d,hde->he", bias, attn.W_K) + attn.b_K)[None, None]
    size = parts["token"].shape[:2]  # (batch, pos)
    q = {k: v.expand(*size, -1, -1) for k, v in q.items()}  # [batch, pos, head, d_head]
    k_ = {k: v.expand(*size, -1, -1) for k, v in k_.items()}  # [batch, pos, head, d_head]
    out = {}
    for a, qa in q.items():
        for b, kb in k_.items():
            term = torch.einsum("bqhe,bkhe->bhqk", qa, kb)  # [batch, head, query_pos, key_pos]
            out[(a, b)] = term / attn.attn_scale
    return out


@torch.no_grad()
def positional_fraction(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``std(pos x pos term) / sum of the std of every term`` per head (§2.10, test 2).

    Standard deviations run over (prompt, query, key) pairs strictly below the diagonal.
    NaN where no term varies (e.g. an inert head with zero query/key weights).

    Returns:
        [layer, head].
    """
    cfg = model.cfg
    device = next(model.parameters()).device
    _, cache = model.run_with_cache(tokens.to(device))
    T = tokens.shape[1]
    below = torch.ones(T, T, dtype=torch.bool, device=device).tril(-1)  # [query_pos, key_pos]
    out = torch.full((cfg.n_layers, cfg.n_heads), math.nan)
    for layer in range(cfg.n_layers):
        stds = {}
        for key, term in _score_terms(model, cache, layer).items():
            vals = term.transpose(0, 1)[:, :, below].reshape(cfg.n_heads, -1)  # [head, n]
            stds[key] = vals.float().std(-1, unbiased=False)  # [head]
        total = torch.stack(list(stds.values())).sum(0)  # [head]
        pp = stds.get(("pos", "pos"), torch.zeros_like(total))
        out[layer] = torch.where(total > 1e-12, pp / total.clamp(min=1e-12),
                                 torch.full_like(total, math.nan)).cpu()
    return out


def _positional_label(inv: float, frac: float) -> str:
    if inv > POSITIONAL_RULES["inv_positional"] and (math.isnan(frac)
                                                     or frac > POSITIONAL_RULES["pos_frac"]):
        return "positional"
    return "content" if inv < POSITIONAL_RULES["inv_content"] else "mixed"


def classify_positional(model: torch.nn.Module, layer: int, head: int, seqs: torch.Tensor
                        ) -> dict[str, float | str]:
    """Positional vs content for one head (§2.10).

    Args:
        model: an interp_core Transformer.
        layer, head: the head.
        seqs: [2k, pos] random sequences without repeated tokens; pairs (0, 1), (2, 3)...
            give the invariance test, the first four the score decomposition.

    Returns:
        {"inv": float, "pos_frac": float, "label": "positional" | "content" | "mixed"}.
    """
    inv, frac = positional_scores(model, seqs, seqs)
    i, f = float(inv[layer, head]), float(frac[layer, head])
    return {"inv": i, "pos_frac": f, "label": _positional_label(i, f)}


# ---------------------------------------------------------------- labels and the full table
def label_heads(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Taxonomy label of every head from its scores, by :data:`LABEL_RULES` then §2.10.

    Args:
        scores: column name -> [layer, head] array; uses the columns named in LABEL_RULES
            plus ``positional_inv`` and ``positional_frac`` when present.

    Returns:
        [layer, head] array of label strings ("mixed" when nothing more specific applies).
    """
    shape = np.shape(next(iter(scores.values())))
    labels = np.full(shape, "", dtype=object)
    for label, column, threshold in LABEL_RULES:
        if column in scores:
            labels[(labels == "") & (np.asarray(scores[column]) > threshold)] = label
    inv = np.asarray(scores.get("positional_inv", np.full(shape, np.nan)))
    frac = np.asarray(scores.get("positional_frac", np.full(shape, np.nan)))
    rest = labels == ""
    positional = (inv > POSITIONAL_RULES["inv_positional"]) & (
        (frac > POSITIONAL_RULES["pos_frac"]) | np.isnan(frac))
    labels[rest & positional] = "positional"
    labels[rest & ~positional & (inv < POSITIONAL_RULES["inv_content"])] = "content"
    labels[labels == ""] = "mixed"
    return labels


def _patterns(model: torch.nn.Module, tokens: torch.Tensor, batch_size: int) -> torch.Tensor:
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for start in range(0, tokens.shape[0], batch_size):
            _, cache = model.run_with_cache(tokens[start:start + batch_size].to(device),
                                            names_filter=names, device="cpu")
            parts.append(cache.stack(names))  # [layer, batch, head, q, k]
    return torch.cat(parts, dim=1)  # [layer, prompt, head, q, k]


def pattern_scores(nat: torch.Tensor, nat_tokens: torch.Tensor, rrt: torch.Tensor, n: int,
                   rrt3: torch.Tensor | None = None, n3: int | None = None
                   ) -> dict[str, torch.Tensor]:
    """Every pattern-only score column, [layer, head] each.

    Args:
        nat: patterns on natural text [layer, prompt, head, q, k]; ``nat_tokens`` its ids.
        rrt: patterns on RRT(n) [layer, prompt, head, q, k].
        rrt3: optional patterns on RRT-k(n3, 3) for prefix matching (else RRT(n), R = 2).
    """
    out = {
        "prev_token": prev_token_score(nat),
        "current_token": current_token_score(nat),
        "first_token": bos_score(nat),
        "duplicate_token": duplicate_score(rrt, n),
        "induction": induction_score(rrt, n),
        "prefix_matching": (prefix_matching_score(rrt3, n3, 3) if rrt3 is not None
                            else prefix_matching_score(rrt, n, 2)),
        "entropy": attention_entropy(nat, normalise=True),
        "entropy_nats": attention_entropy(nat, normalise=False),
        "mean_distance": mean_attention_distance(nat),
        "mean_distance_norm": mean_attention_distance(nat, normalise=True),
        "induction_arena": induction_score(rrt, n, mode="arena"),
        "prev_token_rrt": prev_token_score(rrt),
        "duplicate_token_nat": duplicate_score(nat, tokens=nat_tokens),
        "induction_nat": induction_score(nat, tokens=nat_tokens),
    }
    return out


def score_heads(model: torch.nn.Module, nat_tokens: torch.Tensor, rrt_tokens: torch.Tensor,
                n: int, *, batch_size: int = 16, tl_check: bool = True
                ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run a model over natural text and RRT(n) and score every head.

    Args:
        model: an interp_core Transformer.
        nat_tokens: [prompt, pos] natural-text prompts, BOS first.
        rrt_tokens: [prompt, 1 + 2n] RRT prompts (BOS, r, r).
        n: RRT repeat length.
        batch_size: prompts per forward pass.
        tl_check: also compute the TransformerLens ``"mul"`` induction/duplicate scores.

    Returns:
        (scores, labels): column -> float32 [layer, head] arrays, and [layer, head] labels.
    """
    nat = _patterns(model, nat_tokens, batch_size)  # [layer, prompt, head, q, k]
    rrt = _patterns(model, rrt_tokens, batch_size)  # [layer, prompt, head, q, k]
    body = rrt_tokens[:, 1:n + 1]  # [prompt, n]
    n3 = min(n, (model.cfg.n_ctx - 1) // 3)
    rrt3_tokens = torch.cat([rrt_tokens[:, :1], body[:, :n3].repeat(1, 3)], dim=1)
    rrt3 = _patterns(model, rrt3_tokens, batch_size)
    scores = pattern_scores(nat, nat_tokens, rrt, n, rrt3, n3)
    scores["positional_inv"], scores["positional_frac"] = positional_scores(
        model, rrt_tokens[:, : n + 1], nat_tokens, batch_size=batch_size)
    if tl_check:
        scores["induction_tl"] = tl_detect_heads(rrt, rrt_tokens, "induction_head")
        scores["duplicate_tl"] = tl_detect_heads(rrt, rrt_tokens, "duplicate_token_head")
    table = {k: np.asarray(v, dtype=np.float32) for k, v in scores.items()}
    return table, label_heads(table)


def positional_scores(model: torch.nn.Module, random_seqs: torch.Tensor,
                      decomposition_tokens: torch.Tensor, *, batch_size: int = 16,
                      n_decomposition: int = 4, max_len: int = 64
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """§2.10 for every head: (``inv`` [layer, head], ``pos_frac`` [layer, head]).

    ``inv`` compares the patterns of consecutive pairs of ``random_seqs`` (sequences without
    repeated tokens, e.g. the first halves of RRT prompts); ``pos_frac`` decomposes the
    attention scores on the first ``n_decomposition`` of ``decomposition_tokens``, cut to
    ``max_len`` positions (the term count grows with depth, so this bounds the cost).
    """
    pats = _patterns(model, random_seqs[: 2 * (random_seqs.shape[0] // 2)], batch_size)
    inv = positional_invariance(pats[:, 0::2], pats[:, 1::2])
    frac = positional_fraction(model, decomposition_tokens[:n_decomposition, :max_len])
    return inv, frac


def induction_circuit(d_vocab: int, n_ctx: int, *, n_heads: int = 2, qk_scale: float = 20.0,
                      ov_scale: float = 20.0) -> torch.nn.Module:
    """A hand-built 2-layer attention-only induction circuit (docs/methods.md S2.3), no LayerNorm.

    The residual stream has three one-hot subspaces: current token ``E`` (``d_vocab``
    dims), position ``P`` (``n_ctx``) and copied previous token ``C`` (``d_vocab``). Head 0.0
    attends to the previous position (positional QK) and copies its token from ``E`` into
    ``C``; head 1.0 K-composes with it (query reads ``E``, key reads ``C``) and its OV writes
    the attended token into ``E``, which the unembedding reads. Every other head is inert
    (zero weights: uniform attention, zero output).

    Returns:
        An interp_core Transformer in eval mode.
    """
    from interp_core.config import ModelConfig
    from interp_core.models.transformer import Transformer

    V, P = d_vocab, n_ctx
    d_head = max(V, P + 1)
    cfg = ModelConfig(n_layers=2, d_model=2 * V + P, n_heads=n_heads, d_head=d_head,
                      d_vocab=V, n_ctx=P, normalization_type=None)
    model = Transformer(cfg, seed=0)
    E, Pos, C = torch.arange(V), V + torch.arange(P), V + P + torch.arange(V)
    k_scale = qk_scale * d_head**0.5
    with torch.no_grad():
        for param in model.parameters():
            param.zero_()
        model.embed.W_E[torch.arange(V), E] = 1.0
        model.pos_embed.W_pos[torch.arange(P), Pos] = 1.0
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        a0.W_Q[0, Pos, torch.arange(P)] = 1.0  # query at i -> direction i
        a0.W_K[0, Pos, torch.arange(1, P + 1)] = k_scale  # key at j -> direction j + 1
        a0.W_V[0, E, torch.arange(V)] = 1.0
        a0.W_O[0, torch.arange(V), C] = 1.0  # previous token -> C
        a1.W_Q[0, E, torch.arange(V)] = 1.0  # current token
        a1.W_K[0, C, torch.arange(V)] = k_scale  # previous token of the key position
        a1.W_V[0, E, torch.arange(V)] = 1.0
        a1.W_O[0, torch.arange(V), E] = ov_scale  # attended token -> its logit
        model.unembed.W_U[E, torch.arange(V)] = 1.0
    return model.eval()


def summarise_labels(labels: np.ndarray) -> dict[str, list[str]]:
    """label -> ["L.H", ...] heads, for run attrs and reports."""
    out: dict[str, list[str]] = {}
    for (layer, head), label in np.ndenumerate(labels):
        out.setdefault(str(label), []).append(f"{layer}.{head}")
    return out


__all__ = [
    "LABEL_RULES", "POSITIONAL_RULES", "SCORE_DOCS", "UNIT_SCORES", "attention_entropy", "bos_score",
    "classify_positional",
    "current_token_score", "duplicate_score", "induction_circuit", "induction_score", "label_heads",
    "mean_attention_distance", "pattern_scores", "positional_fraction", "positional_invariance",
    "positional_scores", "prefix_matching_score", "prev_token_score", "score_heads",
    "summarise_labels", "tl_detect_head", "tl_detect_heads", "tl_detection_pattern",
]  # fmt: skip
