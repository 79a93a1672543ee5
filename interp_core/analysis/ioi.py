"""IOI metrics and head classes (docs/methods.md §12.2, §12.3).

Every metric reads prompt b at its own END position (``data.pos["END"][b]``; prompts are
right-padded, which causal attention makes harmless). Scores are [layer, head] arrays:

- :func:`logit_diff_at_end`: LD = logit(IO) - logit(S) at END, mean over prompts;
- :func:`head_dla`: each head's direct logit attribution to IO - S at END (frozen final LN,
  docs/methods.md §4.3; via :mod:`interp_core.analysis.attribution`);
- :func:`attention_scores`: mean attention END->IO, END->S2, S2->S1, S2->S1+1, S1+1->S1;
- :func:`copy_scores`: Wang et al.'s copy score (and with -OV the negative copy score);
- :func:`head_patching`: activation patching of every head's z (denoising, normalised LD);
- :func:`path_to_receivers`: path patching (ABC as the new distribution) from every head into
  the q or v of a set of receiver heads, as the relative LD change (LD_pp - LD_c) / LD_c;
- :func:`classify_heads` / :func:`ioi_head_report`: labels with their evidence, thresholds
  in :class:`Thresholds`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from interp_core.analysis.attribution import decompose_resid, dla
from interp_core.analysis.patching import activation_patch, path_patch
from interp_core.hooks import Cache
from interp_core.ioi import IOIDataset
from interp_core.models.transformer import Transformer
from store import hook_names as hn

__all__ = [
    "ATTENTION_PAIRS",
    "CLASSES",
    "EndLogitDiff",
    "Thresholds",
    "attention_scores",
    "backup_dla_shift",
    "classify_heads",
    "copy_scores",
    "head_dla",
    "head_patching",
    "ioi_head_report",
    "logit_diff_at_end",
    "path_to_receivers",
]

CLASSES = ("name_mover", "negative_name_mover", "s_inhibition", "induction", "duplicate_token",
           "previous_token", "backup_name_mover")  # fmt: skip
"""Head classes of docs/methods.md §12.3, in the order they are assigned."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Every cut the classifier uses (docs/methods.md §12.3 lists them)."""

    attn: float = 0.4
    """Mean attention a head must exceed on its signature (query -> key) pair."""
    copy: float = 0.9
    """Copy score (or negative copy score) a (negative) name mover must reach."""
    dla_frac: float = 0.1
    """|DLA| on IO - S a (negative) name mover must reach, as a fraction of |LD_clean|."""
    path_drop: float = 0.05
    """Relative LD drop (-(LD_pp - LD_c) / LD_c) a path-patched sender must cause."""
    backup_frac: float = 0.1
    """DLA rise (fraction of |LD_clean|) when the name movers are knocked out, for backups."""
    top_k: int = 5
    """The copy score's k: the name must be among the k largest logits."""


def _end(data: IOIDataset, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(data.pos["END"], device=device)


def _logits_at(logits: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """[batch, pos, vocab] -> [batch, vocab] at position where[b]."""
    return logits[torch.arange(logits.shape[0], device=logits.device), where.to(logits.device)]


def logit_diff_at_end(
    logits: torch.Tensor, data: IOIDataset, per_prompt: bool = False
) -> torch.Tensor:
    """LD = logit(IO) - logit(S) at END: mean over prompts (or [prompt] with ``per_prompt``)."""
    last = _logits_at(logits, _end(data, logits.device))  # [batch, vocab]
    io = torch.as_tensor(data.io, device=logits.device)[:, None]
    s = torch.as_tensor(data.s, device=logits.device)[:, None]
    ld = (last.gather(-1, io) - last.gather(-1, s))[:, 0]
    return ld if per_prompt else ld.mean()


@dataclasses.dataclass(frozen=True)
class EndLogitDiff:
    """Normalised LD at END: 0 = corrupted run, 1 = clean run (docs/methods.md §5.2)."""

    data: IOIDataset
    clean: float
    """LD of the clean prompts."""
    corrupted: float
    """LD of the corrupted prompts (with the clean IO and S as answer and foil)."""

    def __post_init__(self) -> None:
        if abs(self.clean - self.corrupted) < 1e-3:
            raise ValueError(f"clean and corrupted LD are equal ({self.clean:.4g}): the "
                             "normalised metric is undefined")

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        ld = logit_diff_at_end(logits, self.data)
        return (ld - self.corrupted) / (self.clean - self.corrupted)


def _tokens(x: np.ndarray, model: Transformer) -> torch.Tensor:
    return torch.as_tensor(x, device=model.unembed.W_U.device)


def _gather_cache(cache: Cache, names: Sequence[str], where: torch.Tensor) -> Cache:
    """Every [batch, pos, ...] tensor in ``names`` at position where[b], kept as [batch, 1, ...]."""
    rows = torch.arange(where.shape[0])
    kept = [n for n in names if n in cache]
    return Cache({n: cache[n][rows, where.to(cache[n].device)][:, None] for n in kept})


@torch.no_grad()
def head_dla(model: Transformer, data: IOIDataset, cache: Cache | None = None) -> torch.Tensor:
    """Per-head DLA on IO - S at END, mean over prompts: [layer, head]."""
    tokens = _tokens(data.tokens, model)
    if cache is None:
        _, cache = model.run_with_cache(tokens)
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [hn.EMBED, hn.POS_EMBED, hn.ln(None, "ln_final", "scale")]
    for l in range(L):
        names += [hn.resid_pre(l), hn.attn_out(l), hn.mlp_out(l)]
        names += [hn.attn(l, "z"), hn.attn(l, "result")]
    at_end = _gather_cache(cache, names, _end(data, tokens.device))
    stack, labels = decompose_resid(at_end, level="head", pos=0, model=model)  # [n, batch, d]
    io, s = _tokens(data.io, model), _tokens(data.s, model)
    contrib = dla(stack, at_end, io, s, model=model, pos=0)  # [n + extra, batch]
    index = {label: i for i, label in enumerate(labels)}
    rows = [index[f"L{l}H{h}"] for l in range(L) for h in range(H)]
    return contrib[rows].mean(-1).view(L, H).cpu()


ATTENTION_PAIRS = {"end_io": ("END", "IO"), "end_s2": ("END", "S2"), "s2_s1": ("S2", "S1"),
                   "s2_s1p1": ("S2", "S1+1"), "s1p1_s1": ("S1+1", "S1")}  # fmt: skip
"""Attention score name -> (query position, key position)."""


@torch.no_grad()
def attention_scores(
    model: Transformer, data: IOIDataset, cache: Cache | None = None
) -> dict[str, torch.Tensor]:
    """Mean attention per head on each pair of :data:`ATTENTION_PAIRS`: [layer, head] each."""
    tokens = _tokens(data.tokens, model)
    if cache is None:
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    rows = torch.arange(tokens.shape[0])
    out = {}
    for key, (q, k) in ATTENTION_PAIRS.items():
        qi, ki = torch.as_tensor(data.pos[q]), torch.as_tensor(data.pos[k])
        patterns = (cache[hn.attn(l, "pattern")].cpu() for l in range(model.cfg.n_layers))
        per_layer = [p[rows, :, qi, ki].mean(0) for p in patterns]  # [head] each
        out[key] = torch.stack(per_layer)  # [layer, head]
    return out


@torch.no_grad()
def copy_scores(
    model: Transformer, data: IOIDataset, k: int = 5, cache: Cache | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy and negative copy score of every head (Wang et al.; docs/methods.md §12.3).

    The residual stream at each name position (IO, S1, S2) after block 0's MLP
    (``resid_post[0]``; the embedding ``resid_pre[0]`` for layer-0 heads and for models
    without an MLP in block 0) goes through the head's layer LN1, then ``±W_V W_O`` (no
    biases), then the final LN (recomputed on that vector alone) and ``W_U``. A case counts
    when fewer than ``k`` other tokens have a logit at least as large as the name's (ties
    count against, so a head with zero OV scores 0).

    Returns:
        ``(copy, negative_copy)``, each [layer, head] in [0, 1].
    """
    tokens = _tokens(data.tokens, model)
    if cache is None:
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: "resid_p" in n)
    rows = torch.arange(tokens.shape[0]).repeat(3)
    where = torch.as_tensor(np.concatenate([data.pos["IO"], data.pos["S1"], data.pos["S2"]]))
    name = _tokens(np.concatenate([data.io, data.s, data.s]), model)
    embed = cache[hn.resid_pre(0)][rows, where]  # [case, d_model]
    after_mlp0 = cache[hn.resid_post(0)][rows, where] if not model.cfg.attn_only else embed
    L, H = model.cfg.n_layers, model.cfg.n_heads
    out = torch.zeros(2, L, H)
    for layer in range(L):
        block = model.blocks[layer]
        x = embed if layer == 0 else after_mlp0
        x = block.ln1(x) if model.cfg.has_ln else x
        attn = block.attn
        ov = torch.einsum("cd,hde,hef->hcf", x, attn.W_V, attn.W_O)  # [head, case, d_model]
        for sign_i, sign in enumerate((1.0, -1.0)):
            y = sign * ov
            y = model.ln_final(y) if model.cfg.has_ln else y
            logits = y @ model.unembed.W_U  # [head, case, vocab]
            own = logits.gather(-1, name[None, :, None].expand(H, -1, 1))  # [head, case, 1]
            rivals = (logits >= own).sum(-1) - 1  # [head, case]
            out[sign_i, layer] = (rivals < k).float().mean(-1).cpu()
    return out[0], out[1]


def head_patching(
    model: Transformer, data: IOIDataset, corruption: str = "swap"
) -> tuple[torch.Tensor, EndLogitDiff]:
    """Denoising activation patching of every head's z (all positions): [layer, head] metric.

    ``corruption`` is "swap" (name swap) or "abc". Returns the grid and its metric.
    """
    if corruption not in ("swap", "abc"):
        raise ValueError(f"corruption must be 'swap' or 'abc', not {corruption!r}")
    clean = _tokens(data.tokens, model)
    corrupted = _tokens(data.swap_tokens if corruption == "swap" else data.abc_tokens, model)
    with torch.no_grad():
        logits, cache = model.run_with_cache(clean, names_filter=lambda n: n.endswith("hook_z"))
        metric = EndLogitDiff(data, float(logit_diff_at_end(logits, data)),
                              float(logit_diff_at_end(model(corrupted), data)))  # fmt: skip
    return activation_patch(model, cache, corrupted, "z", ("layer", "head"), metric), metric


def path_to_receivers(
    model: Transformer, data: IOIDataset, receivers: Sequence[tuple[int, int]], inp: str,
    senders: Sequence[tuple[int, int]] | None = None,
) -> torch.Tensor:  # fmt: skip
    """Relative LD change when each sender's ABC output reaches only the receivers' ``inp``.

    Path patching (docs/methods.md §5.5; MLPs recompute) with the clean prompts and the ABC
    prompts as the new distribution, receiver inputs patched at every position. Senders
    default to every head in a layer below the earliest receiver; the others are NaN.

    Returns:
        [layer, head] ``(LD_pp - LD_clean) / LD_clean`` (negative = the path carries IOI signal);
        all NaN when there is no receiver or |LD_clean| < 1e-3.
    """
    L, H = model.cfg.n_layers, model.cfg.n_heads
    out = torch.full((L, H), float("nan"))
    clean, new = _tokens(data.tokens, model), _tokens(data.abc_tokens, model)
    with torch.no_grad():
        ld_clean = float(logit_diff_at_end(model(clean), data))
    if not receivers or abs(ld_clean) < 1e-3:  # nothing to receive, or no LD to change
        return out
    first = min(layer for layer, _ in receivers)
    senders = [(l, h) for l in range(first) for h in range(H)] if senders is None else list(senders)
    recv = [(layer, head, inp) for layer, head in receivers]
    metric = lambda logits: logit_diff_at_end(logits, data)  # noqa: E731
    for layer, head in senders:
        ld = path_patch(model, clean, new, [(layer, head)], recv, metric=metric)
        out[layer, head] = (ld - ld_clean) / ld_clean
    return out


@torch.no_grad()
def backup_dla_shift(
    model: Transformer, data: IOIDataset, knocked_out: Sequence[tuple[int, int]]
) -> torch.Tensor:
    """Per-head DLA change when ``knocked_out`` heads get their ABC-run z: [layer, head]."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    if not knocked_out:
        return torch.zeros(L, H)
    clean, abc = _tokens(data.tokens, model), _tokens(data.abc_tokens, model)
    _, new = model.run_with_cache(abc, names_filter=lambda n: n.endswith("hook_z"))

    def knock(x: torch.Tensor, hook, layer: int) -> torch.Tensor:
        x = x.clone()
        for l, h in knocked_out:
            if l == layer:
                x[:, :, h] = new[hn.attn(l, "z")][:, :, h]
        return x

    layers = sorted({l for l, _ in knocked_out})
    fwd = [(hn.attn(l, "z"), lambda x, hook, l=l: knock(x, hook, l)) for l in layers]
    with model.hooks(fwd=fwd):
        _, cache = model.run_with_cache(clean)
    return head_dla(model, data, cache) - head_dla(model, data)


def _pick(mask: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(l), int(h)) for l, h in mask.nonzero().tolist()]


def classify_heads(
    scores: dict[str, torch.Tensor], ld_clean: float, th: Thresholds = Thresholds()
) -> dict[tuple[int, int], list[dict]]:
    """Labels per head from precomputed [layer, head] scores, each with its evidence.

    Args:
        scores: ``dla``, ``copy``, ``neg_copy``, the :data:`ATTENTION_PAIRS` keys, and where
            computed ``path_to_nm_q``, ``path_to_sinh_v`` (relative LD change) and
            ``backup_shift`` (DLA change with the name movers knocked out).
        ld_clean: Clean LD (scales the DLA thresholds).

    Returns:
        ``{(layer, head): [{"label": ..., "evidence": {score: (value, ">", threshold)}}]}``
        for every head with at least one label; a head can carry several.
    """
    dla_cut, backup_cut = th.dla_frac * abs(ld_clean), th.backup_frac * abs(ld_clean)
    rules = {
        "name_mover": [("end_io", ">", th.attn), ("dla", ">", dla_cut), ("copy", ">=", th.copy)],
        "negative_name_mover": [("end_io", ">", th.attn), ("dla", "<", -dla_cut),
                                ("neg_copy", ">=", th.copy)],
        "s_inhibition": [("end_s2", ">", th.attn), ("path_to_nm_q", "<", -th.path_drop)],
        "induction": [("s2_s1p1", ">", th.attn), ("path_to_sinh_v", "<", -th.path_drop)],
        "duplicate_token": [("s2_s1", ">", th.attn), ("path_to_sinh_v", "<", -th.path_drop)],
        "previous_token": [("s1p1_s1", ">", th.attn)],
        "backup_name_mover": [("backup_shift", ">", backup_cut), ("end_io", ">", th.attn)],
    }
    ops = {">": torch.gt, "<": torch.lt, ">=": torch.ge}
    masks: dict[str, torch.Tensor] = {}
    for label, conds in rules.items():
        if all(name in scores for name, _, _ in conds):  # NaN scores compare False
            passed = [ops[op](scores[name], cut) for name, op, cut in conds]
            masks[label] = torch.stack(passed).all(0)
    if "backup_name_mover" in masks and "name_mover" in masks:
        masks["backup_name_mover"] &= ~masks["name_mover"]
    out: dict[tuple[int, int], list[dict]] = {}
    for label, mask in masks.items():
        for head in _pick(mask):
            evidence = {name: (float(scores[name][head]), op, float(cut))
                        for name, op, cut in rules[label]}  # fmt: skip
            out.setdefault(head, []).append({"label": label, "evidence": evidence})
    return out


def ioi_head_report(
    model: Transformer, data: IOIDataset, th: Thresholds = Thresholds(), *, path: bool = True
):
    """Every score and label per head (docs/methods.md §12.3) as a DataFrame, one row a head.

    Order: name movers first (they need no path patching), then path patching from every
    earlier head into the name movers' queries (S-inhibition), then into the S-inhibition
    heads' values (induction, duplicate token), then the backup shift with the name movers
    knocked out. ``path=False`` skips the path-patching and backup stages.
    """
    import pandas as pd

    tokens = _tokens(data.tokens, model)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    ld_clean = float(logit_diff_at_end(logits, data))
    scores = {"dla": head_dla(model, data, cache), **attention_scores(model, data, cache)}
    scores["copy"], scores["neg_copy"] = copy_scores(model, data, th.top_k, cache)
    try:
        scores["patch_swap"], _ = head_patching(model, data, "swap")
    except ValueError:  # the swap leaves LD unchanged: the normalised metric is undefined
        scores["patch_swap"] = torch.full_like(scores["dla"], float("nan"))
    labels = classify_heads(scores, ld_clean, th)
    if path:
        movers = [h for h, ls in labels.items() if any(x["label"] == "name_mover" for x in ls)]
        scores["path_to_nm_q"] = path_to_receivers(model, data, movers, "q")
        labels = classify_heads(scores, ld_clean, th)
        sinh = [h for h, ls in labels.items() if any(x["label"] == "s_inhibition" for x in ls)]
        scores["path_to_sinh_v"] = path_to_receivers(model, data, sinh, "v")
        scores["backup_shift"] = backup_dla_shift(model, data, movers)
        labels = classify_heads(scores, ld_clean, th)
    L, H = model.cfg.n_layers, model.cfg.n_heads
    rows = []
    for layer in range(L):
        for head in range(H):
            found = labels.get((layer, head), [])
            values = {k: float(v[layer, head]) for k, v in scores.items()}
            rows.append({"layer": layer, "head": head, **values,
                         "labels": [x["label"] for x in found],
                         "evidence": [x["evidence"] for x in found]})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.attrs.update({"ld_clean": ld_clean, "thresholds": dataclasses.asdict(th),
                        "method": "docs/methods.md §12.3"})  # fmt: skip
    return frame
