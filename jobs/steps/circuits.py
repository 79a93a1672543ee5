"""Analysis step: QK/OV circuits, copying and composition scores, skip-trigrams (docs/methods.md §3).

The model is folded once (LN gains into the reading weights, writing weights and W_U
centred, value biases into b_O; ``interp_core.analysis.fold_model``) and every circuit uses
the token vectors ``LNPre(W_E)`` (row convention; see ``interp_core.analysis.circuits``).
Writes (declared in ``store/schema.py``):

- ``circuits/copying`` [layer, head]: OV eigenvalue copying score;
- ``circuits/ov_top1|ov_top5`` [layer, head]: full-OV top-k accuracy over the
  ``accuracy_rows`` (default 4096) most frequent source tokens, argmax over the whole vocab;
- ``circuits/token`` [circuit_token] (the ``n_tokens`` = 500 most frequent) with
  ``circuits/ov_top_id|value`` and ``circuits/qk_top_id|value`` [layer, head,
  circuit_token, topk]: the output tokens a source raises most / the keys a query attends
  to most (any other token: computed on the fly from ``weights/*`` by the dashboard);
- for 2+ layers: ``circuits/comp_mode`` and ``circuits/comp_raw|comp`` [comp_mode,
  src_layer, src_head, dst_layer, dst_head] (raw; minus the random baseline, whose value
  is in the attrs);
- for 1 layer: the skip-trigram table ``circuits/trigram_*`` [trigram] over the
  ``trigram_candidates`` (default 2000) most frequent source tokens, ``trigram_rows`` (50)
  rows per head (deeper models too with ``--set circuits.skip_trigrams=true``).

Findings (``describe``): copying (and anti-copying) heads, heads whose
OV maps most tokens to themselves, a caveat for each copying head with low top-1 accuracy
(the two numbers answer different questions), and the strongest composition per mode
against the random baseline (or that none stands out).

0-layer models are skipped. Nothing is V x V: rows are computed in blocks.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-1l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from interp_core.analysis import (
    FactoredMatrix,
    all_ov_copying_scores,
    circuit_embedding,
    composition_baseline,
    composition_scores,
    fold_model,
    skip_trigrams,
)
from jobs.analysis_context import AnalysisContext
from jobs.findings import (COMPOSITION_RATIO, COPYING_THRESHOLD, OV_TOP1_HIGH, OV_TOP1_LOW, Finding,
                           best_head, fmt_num, head_name, head_ref, heads_refs, list_heads,
                           ranked_heads)
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("circuits/",)
NEEDS = ("vocab",)

MODES = ("Q", "K", "V")
"""Composition types, in ``comp_mode`` order."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Which tokens the per-head circuit tables cover."""

    k: int = 10
    """Top tokens kept per row of the OV and QK tables (capped at the vocabulary)."""
    accuracy_rows: int = 4096
    """Most frequent source tokens the OV top-1/top-5 accuracy is measured over."""
    n_tokens: int = 500
    """Most frequent tokens that get stored OV/QK top-k rows."""
    skip_trigrams: bool = False
    """Also build the skip-trigram table for models deeper than one layer (layer 0 only)."""
    trigram_candidates: int = 2000
    """Most frequent source tokens considered for skip-trigrams."""
    trigram_rows: int = 50
    """Skip-trigram rows kept per head."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, bool) and value < 1:
                raise ValueError(f"{field.name}={value}: must be at least 1")


def _np(t: torch.Tensor, dtype) -> np.ndarray:
    return t.detach().cpu().numpy().astype(dtype)


@torch.no_grad()
def _layer_sides(folded, layer: int, E: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The vocabulary-wide factors of every head of ``layer``, one GEMM each.

    Returns ``W_O^h W_U`` [H, d_head, V] (the OV circuit's right factor) and ``E W_K^h``
    [H, V, d_head] (the QK circuit's key side). Their left factors are needed only for the
    stored source/query rows, so ``E W_V^h`` and ``E W_Q^h`` are never formed over the whole
    vocabulary: at GPT-2 small's size this halves the step.
    """
    attn = folded.blocks[layer].attn
    H, d, dh = attn.W_K.shape
    W_U = folded.unembed.W_U.detach().float()  # [d_model, V]
    out = (attn.W_O.detach().float().reshape(H * dh, d) @ W_U).reshape(H, dh, -1)
    keys = (E @ attn.W_K.detach().float().permute(1, 0, 2).reshape(d, H * dh))  # [V, H * dh]
    return out, keys.reshape(-1, H, dh).permute(1, 0, 2)


@torch.no_grad()
def _per_head(ctx: AnalysisContext, settings: Config, folded, writer: RunWriter
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """Write the per-head OV/QK tables; returns OV top-1 and top-5 accuracy and their row count.

    Each table row is ``E[t] W_X^h`` times the head's vocabulary-wide factor
    (:func:`_layer_sides`): the same entries as ``full_ov`` / ``full_qk`` rows, top-k over
    the whole vocabulary.
    """
    cfg = ctx.cfg
    L, H = cfg.n_layers, cfg.n_heads
    k = min(settings.k, cfg.d_vocab)
    acc_rows, _, _ = ctx.frequent_tokens(settings.accuracy_rows)
    tokens, _, _ = ctx.frequent_tokens(settings.n_tokens)
    acc_rows_t = torch.as_tensor(acc_rows, device=ctx.device)
    tokens_t = torch.as_tensor(tokens, device=ctx.device)
    E = circuit_embedding(folded)  # [V, d_model], once for every head
    E_acc, E_tok = E[acc_rows_t], E[tokens_t]
    top1 = np.zeros((L, H), dtype=np.float32)
    top5 = np.zeros((L, H), dtype=np.float32)
    shape = (L, H, len(tokens), k)
    ov_id, qk_id = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    ov_val, qk_val = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for layer in range(L):
        attn = folded.blocks[layer].attn
        out, keys = _layer_sides(folded, layer, E)
        for head in range(H):
            W_V, W_Q = attn.W_V[head].float(), attn.W_Q[head].float()
            _, best = FactoredMatrix(E_acc @ W_V, out[head]).topk_rows(min(5, cfg.d_vocab))
            hit = best == acc_rows_t[:, None]
            top1[layer, head] = float(hit[:, 0].float().mean())
            top5[layer, head] = float(hit.any(-1).float().mean())
            values, ids = FactoredMatrix(E_tok @ W_V, out[head]).topk_rows(k)
            ov_id[layer, head], ov_val[layer, head] = _np(ids, np.int32), _np(values, np.float32)
            values, ids = FactoredMatrix(E_tok @ W_Q, keys[head].T).topk_rows(k)
            qk_id[layer, head], qk_val[layer, head] = _np(ids, np.int32), _np(values, np.float32)
    writer.write("circuits/ov_top1", top1, rows=len(acc_rows))
    writer.write("circuits/ov_top5", top5, rows=len(acc_rows))
    writer.write("circuits/token", tokens.astype(np.int32))
    writer.write("circuits/ov_top_id", ov_id)
    writer.write("circuits/ov_top_value", ov_val)
    writer.write("circuits/qk_top_id", qk_id)
    writer.write("circuits/qk_top_value", qk_val)
    return top1, top5, len(acc_rows)


def describe(
    copying: np.ndarray,
    ov_top1: np.ndarray,
    ov_top5: np.ndarray,
    accuracy_rows: int,
    comp_raw: np.ndarray | None = None,
    baseline: float | None = None,
    modes: Sequence[str] = ("Q", "K", "V"),
) -> list[Finding]:
    """Copying heads, heads that map tokens to themselves, the caveat between them, composition.

    Args:
        copying: [layer, head] OV eigenvalue copying score in [-1, 1].
        ov_top1, ov_top5: [layer, head] full-OV top-k accuracy over ``accuracy_rows`` tokens.
        comp_raw: [mode, src_layer, src_head, dst_layer, dst_head] raw composition scores
            (0 where dst_layer <= src_layer; None for 1-layer models).
        baseline: the random-pair composition baseline.
        modes: composition mode names, in ``comp_raw`` order.
    """
    copying, top1, top5 = (np.asarray(a, dtype=np.float64) for a in (copying, ov_top1, ov_top5))
    out: list[Finding] = []
    heads = ranked_heads(copying >= COPYING_THRESHOLD, copying)
    if heads:
        listed, nums = list_heads(heads, [copying[h] for h in heads])
        out.append(
            Finding(
                f"{listed} {'has a' if len(heads) == 1 else 'have'} copying OV "
                f"circuit{'' if len(heads) == 1 else 's'} (eigenvalue copying score "
                f"{nums}; threshold {COPYING_THRESHOLD})",
                "result",
                heads_refs(
                    heads, [copying[h] for h in heads], score="copying", threshold=COPYING_THRESHOLD
                ),
            )
        )
    else:
        best = best_head(copying)
        out.append(
            Finding(
                f"no head's OV circuit copies: the highest eigenvalue copying score is "
                f"{fmt_num(copying[best])} (head {head_name(*best)}), below "
                f"{COPYING_THRESHOLD}",
                "null",
                heads_refs([best], [copying[best]], score="copying", threshold=COPYING_THRESHOLD),
            )
        )
    anti = ranked_heads(copying <= -COPYING_THRESHOLD, -copying)
    if anti:
        listed, nums = list_heads(anti, [copying[h] for h in anti])
        them = (
            "it lowers the tokens it attends to"
            if len(anti) == 1
            else "they lower the tokens they attend to"
        )
        out.append(
            Finding(
                f"{listed} {'is' if len(anti) == 1 else 'are'} anti-copying (eigenvalue "
                f"copying score {nums}): {them}",
                "result",
                heads_refs(anti, [copying[h] for h in anti], score="copying"),
            )
        )
    mappers = ranked_heads(top1 >= OV_TOP1_HIGH, top1)
    if mappers:
        listed, nums = list_heads(mappers, [top1[h] for h in mappers])
        out.append(
            Finding(
                f"the OV circuit of {listed} maps most source tokens to themselves "
                f"(top-1 accuracy {nums} over the {accuracy_rows} most frequent tokens)",
                "result",
                heads_refs(
                    mappers, [top1[h] for h in mappers], score="ov_top1", threshold=OV_TOP1_HIGH
                ),
            )
        )
    for layer, head in heads:
        if top1[layer, head] >= OV_TOP1_LOW:
            continue
        out.append(
            Finding(
                f"head {head_name(layer, head)}: copying score {fmt_num(copying[layer, head])} "
                f"but OV top-1 accuracy {fmt_num(top1[layer, head])} (top-5 "
                f"{fmt_num(top5[layer, head])}). No contradiction: the eigenvalue score says the "
                "OV circuit's eigenvalues are mostly positive (it tends to raise the tokens it "
                "reads), while top-1 accuracy asks whether "
                "the source token itself is the single most raised token over the whole vocabulary "
                f"(measured on the {accuracy_rows} most frequent source tokens)",
                "caveat",
                heads_refs(
                    [(layer, head)],
                    [copying[layer, head], top1[layer, head]],
                    scores=["copying", "ov_top1"],
                ),
            )
        )
    if comp_raw is not None and baseline is not None and comp_raw.size:
        raw = np.nan_to_num(np.asarray(comp_raw, dtype=np.float64), nan=-np.inf)
        found = []
        for m, mode in enumerate(modes):
            idx = np.unravel_index(int(np.argmax(raw[m])), raw[m].shape)
            found.append((float(raw[m][idx]), mode, tuple(int(i) for i in idx)))
        strong = [f for f in found if f[0] >= COMPOSITION_RATIO * baseline]
        for value, mode, (sl, sh, dl, dh) in sorted(strong, reverse=True):
            out.append(
                Finding(
                    f"strongest {mode}-composition: head {head_name(sl, sh)} -> head "
                    f"{head_name(dl, dh)} ({fmt_num(value)}, {value / baseline:.1f}x the random "
                    "baseline "
                    f"{fmt_num(baseline)})",
                    "result",
                    {
                        "mode": mode,
                        "heads": [head_ref(sl, sh), head_ref(dl, dh)],
                        "values": [value, float(baseline)],
                    },
                )
            )
        if not strong:
            value, mode, (sl, sh, dl, dh) = max(found)
            out.append(
                Finding(
                    f"no composition score reaches {COMPOSITION_RATIO:g}x the random baseline "
                    f"{fmt_num(baseline)}: the strongest is {fmt_num(value)} ({mode}-composition, "
                    "head "
                    f"{head_name(sl, sh)} -> head {head_name(dl, dh)})",
                    "null",
                    {
                        "mode": mode,
                        "heads": [head_ref(sl, sh), head_ref(dl, dh)],
                        "values": [value, float(baseline)],
                    },
                )
            )
    return out


def run(ctx: AnalysisContext, settings: Config, writer: RunWriter) -> Skipped | list[Finding]:
    """Write the ``circuits/*`` arrays; findings: copying heads, the caveat, composition."""
    cfg = ctx.cfg
    if cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention heads, so no QK or OV circuits")
    folded = fold_model(ctx.model)
    convention = "folded model; token vectors LNPre(W_E); row convention [source/query, out/key]"
    copying = _np(all_ov_copying_scores(folded, fold=False), np.float32)
    writer.write("circuits/copying", copying, convention=convention)
    top1, top5, rows = _per_head(ctx, settings, folded, writer)
    comp = {}
    if cfg.n_layers >= 2:
        raw, minus = zip(*(composition_scores(folded, mode, fold=False) for mode in MODES))
        base = composition_baseline(cfg.d_model, cfg.d_head)
        comp_raw = _np(torch.stack(raw), np.float32)
        comp = {"comp_raw": comp_raw, "baseline": base, "modes": MODES}
        writer.write("circuits/comp_mode", np.asarray(MODES, dtype=object))
        writer.write("circuits/comp_raw", comp_raw, baseline=base)
        writer.write(
            "circuits/comp",
            _np(torch.stack(minus), np.float32),
            baseline=base,
            baseline_rule="mean score of 200 random Gaussian head pairs (~1/sqrt(d_model))",
        )
    if cfg.n_layers == 1 or settings.skip_trigrams:
        cand, _, _ = ctx.frequent_tokens(settings.trigram_candidates)
        table = skip_trigrams(
            folded,
            0,
            candidates=torch.as_tensor(cand, device=ctx.device),
            n_per_head=settings.trigram_rows,
            fold=False,
        )
        dtypes = {"ov": np.float32, "qk": np.float32, "copying": np.int8}
        for name, column in table.items():
            writer.write(
                f"circuits/trigram_{name}", np.asarray(column).astype(dtypes.get(name, np.int32))
            )
    return describe(copying, top1, top5, rows, **comp)
