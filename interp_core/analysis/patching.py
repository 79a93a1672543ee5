"""Activation patching, path patching and attribution patching (docs/methods.md §5).

Conventions:

- **Direction.** ``"denoise"`` (the default, as TransformerLens ``patching.py``): run the
  corrupted prompt and overwrite one activation with its clean value; finds what is
  *sufficient* to restore the clean behaviour. ``"noise"``: run the clean prompt with one
  corrupted activation; finds what is *necessary*. The two heatmaps are not interchangeable;
  every result records its direction.
- **Metric.** :class:`LogitDiffMetric`: the logit difference ``answer - wrong`` at one
  position, averaged over prompts, normalised so the corrupted run is 0 and the clean run
  is 1 (values outside [0, 1] are legal). Degenerate pairs (|LD_clean - LD_corrupted| < 1e-3)
  raise.
- **Granularities** (:data:`GRANULARITIES`, output shapes as TransformerLens): residual /
  attn_out / mlp_out per (layer, pos); head output ``z`` per (layer, head) over all
  positions and per (layer, pos, head); head pattern per (layer, head) and per (layer, head,
  dest). Patching ``z`` is equivalent to patching the head's result and cheaper.
- **Attribution patching** (Appendix A9): ``(a_clean - a_corr) · ∂m/∂a`` at the corrupted run
  (denoise) or ``(a_corr - a_clean) · ∂m/∂a`` at the clean run (noise): 2 forward passes and
  1 backward pass for every component at once.

Many patches share one forward pass: the run's prompts are repeated ``k`` times along the
batch and replicate ``j`` gets patch ``j`` (the batch size is chosen to bound logits memory).

Examples:
    >>> metric = LogitDiffMetric.from_runs(model, clean, corrupted, answer, wrong)
    >>> _, clean_cache = model.run_with_cache(clean)
    >>> grid = activation_patch(model, clean_cache, corrupted, "z", ("layer", "head"), metric)
    >>> attr = attribution_patch(model, clean, corrupted, metric, ["blocks.1.attn.hook_z"])
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import torch

from interp_core.hooks import Cache
from interp_core.models.transformer import Transformer
from store import hook_names as hn

__all__ = [
    "GRANULARITIES",
    "Granularity",
    "LogitDiffMetric",
    "activation_patch",
    "attribution_grid",
    "attribution_patch",
    "granularity_hooks",
    "logit_diff",
    "patch_run",
    "path_patch",
    "path_patch_sweep",
]

Metric = Callable[[torch.Tensor], torch.Tensor]
"""logits [batch, pos, d_vocab] -> scalar tensor."""

LOGITS_BUDGET = 2**25
"""Most logits elements one batched patching pass may hold (128 MiB of float32)."""


def logit_diff(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor, pos: int = -1) -> torch.Tensor:
    """Mean over prompts of ``logits[b, pos, answer_b] - logits[b, pos, wrong_b]`` (a scalar)."""
    last = logits[:, pos]  # [batch, d_vocab]
    return (last.gather(-1, answer[:, None]) - last.gather(-1, wrong[:, None])).mean()


@dataclasses.dataclass(frozen=True)
class LogitDiffMetric:
    """Normalised logit difference: 0 = corrupted run, 1 = clean run (docs/methods.md §5.2)."""

    answer: torch.Tensor
    """[batch] correct next token of each prompt."""
    wrong: torch.Tensor
    """[batch] the competing token."""
    clean: float
    """Logit difference of the clean run."""
    corrupted: float
    """Logit difference of the corrupted run."""
    pos: int = -1
    """Position whose next-token logits are compared."""

    def __post_init__(self) -> None:
        if abs(self.clean - self.corrupted) < 1e-3:
            raise ValueError(
                f"clean and corrupted logit differences are equal ({self.clean:.4g} vs "
                f"{self.corrupted:.4g}): the normalised metric is undefined; pick prompts whose "
                "answer the corruption changes"
            )

    @classmethod
    def from_runs(
        cls, model: Transformer, clean_tokens: torch.Tensor, corrupted_tokens: torch.Tensor,
        answer: torch.Tensor, wrong: torch.Tensor, pos: int = -1,
    ) -> LogitDiffMetric:  # fmt: skip
        """Run both prompts once and build the metric from their logit differences."""
        with torch.no_grad():
            clean = logit_diff(model(clean_tokens), answer, wrong, pos).item()
            corrupted = logit_diff(model(corrupted_tokens), answer, wrong, pos).item()
        return cls(answer, wrong, clean, corrupted, pos)

    def raw(self, logits: torch.Tensor) -> torch.Tensor:
        """The un-normalised mean logit difference."""
        return logit_diff(logits, self.answer.to(logits.device), self.wrong.to(logits.device), self.pos)

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return (self.raw(logits) - self.corrupted) / (self.clean - self.corrupted)

    @property
    def meta(self) -> dict:
        """What the metric means, for the store."""
        return {"metric": "normalised_logit_diff", "clean_logit_diff": self.clean,
                "corrupted_logit_diff": self.corrupted, "metric_pos": self.pos,
                "meaning": "0 = corrupted run, 1 = clean run; (LD - LD_corr) / (LD_clean - LD_corr)"}


@dataclasses.dataclass(frozen=True)
class Granularity:
    """One way of cutting activations into patches."""

    kind: str
    """Activation: resid_pre, resid_mid, attn_out, mlp_out, z, q, k, v or pattern."""
    axes: tuple[str, ...]
    """Index axes of the sweep; the output has one dim per axis, in this order."""
    doc: str
    """What one cell of the heatmap is."""


GRANULARITIES: dict[str, Granularity] = {
    "resid_pre": Granularity("resid_pre", ("layer", "pos"), "residual stream entering a block, one position"),
    "resid_mid": Granularity("resid_mid", ("layer", "pos"), "residual stream between attention and MLP"),
    "attn_out": Granularity("attn_out", ("layer", "pos"), "attention layer output, one position"),
    "mlp_out": Granularity("mlp_out", ("layer", "pos"), "MLP output, one position"),
    "z_head": Granularity("z", ("layer", "head"), "one head's output (z) at every position"),
    "z_head_pos": Granularity("z", ("layer", "pos", "head"), "one head's output (z) at one position"),
    "pattern_head": Granularity("pattern", ("layer", "head"), "one head's whole attention pattern"),
    "pattern_head_dest": Granularity("pattern", ("layer", "head", "pos"),
                                     "one head's attention row at one destination position"),
}  # fmt: skip
"""The sweeps of docs/methods.md §5.3 by name (the store's array names use these keys)."""


def _hook(kind: str, layer: int) -> str:
    if kind in ("z", "q", "k", "v", "pattern"):
        return hn.attn(layer, kind)
    return {"resid_pre": hn.resid_pre, "resid_mid": hn.resid_mid, "resid_post": hn.resid_post,
            "attn_out": hn.attn_out, "mlp_out": hn.mlp_out}[kind](layer)  # fmt: skip


def granularity_hooks(name: str, n_layers: int) -> list[str]:
    """Hook names (one per layer) a granularity patches."""
    return [_hook(GRANULARITIES[name].kind, layer) for layer in range(n_layers)]


def _index(kind: str, axes: Sequence[str], idx: Sequence[int]) -> tuple:
    """Index into one activation [batch, ...] for the non-layer part of a patch index."""
    where = dict(zip(axes, idx))
    pos, head = where.get("pos", slice(None)), where.get("head", slice(None))
    if kind == "pattern":  # [batch, head, query_pos, key_pos]; "pos" is the destination
        return (slice(None), head, pos)
    if kind in ("z", "q", "k", "v"):  # [batch, pos, head, d_head]
        return (slice(None), pos, head)
    return (slice(None), pos)  # [batch, pos, d_model]


def patch_run(model: Transformer, tokens: torch.Tensor, patches: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run ``tokens`` with whole activations replaced: ``{hook_name: value}``; returns logits."""
    hooks = [(name, lambda x, hook, v=value: v.to(x.dtype)) for name, value in patches.items()]
    with torch.no_grad(), model.hooks(fwd=hooks):
        return model(tokens)


def _batch_size(tokens: torch.Tensor, d_vocab: int, n_patches: int) -> int:
    per = tokens.numel() * d_vocab
    return max(1, min(n_patches, LOGITS_BUDGET // max(per, 1)))


@torch.no_grad()
def activation_patch(
    model: Transformer,
    clean_cache: Cache,
    corrupted_tokens: torch.Tensor,
    hook: str,
    axes: Sequence[str],
    metric: Metric,
    direction: str = "denoise",
    *,
    clean_tokens: torch.Tensor | None = None,
    positions: Sequence[int] | None = None,
    layers: Sequence[int] | None = None,
) -> torch.Tensor:
    """Sweep one activation kind over an index grid, patching one cell at a time.

    Args:
        model: The model.
        clean_cache: Clean-run activations (must hold ``hook`` for every swept layer).
        corrupted_tokens: [batch, pos] corrupted prompts (same length as the clean ones).
        hook: Activation kind (resid_pre, resid_mid, attn_out, mlp_out, z, q, k, v, pattern).
        axes: Index axes, starting with "layer": ("layer", "pos"), ("layer", "head"),
            ("layer", "pos", "head") or ("layer", "head", "pos") (for pattern "pos" is dest).
        metric: logits -> scalar (e.g. a :class:`LogitDiffMetric`).
        direction: "denoise" (clean values into the corrupted run) or "noise" (corrupted
            values into the clean run; needs ``clean_tokens``).
        clean_tokens: The clean prompts, for ``direction="noise"``.
        positions: Positions to sweep (default all); the output's pos axis follows this list.
        layers: Layers to sweep (default all).

    Returns:
        Metric per cell, shape given by ``axes`` (e.g. [layer, pos]).
    """
    if axes[0] != "layer":
        raise ValueError(f"axes must start with 'layer', got {tuple(axes)}")
    if direction == "denoise":
        source, run_tokens = clean_cache, corrupted_tokens
    elif direction == "noise":
        if clean_tokens is None:
            raise ValueError("direction='noise' needs clean_tokens=")
        names = [_hook(hook, layer) for layer in range(model.cfg.n_layers)]
        _, source = model.run_with_cache(corrupted_tokens, names_filter=names)
        run_tokens = clean_tokens
    else:
        raise ValueError(f"direction must be 'denoise' or 'noise', not {direction!r}")
    layers = list(range(model.cfg.n_layers)) if layers is None else list(layers)
    positions = list(range(run_tokens.shape[1])) if positions is None else list(positions)
    ranges = {"layer": range(len(layers)), "pos": range(len(positions)),
              "head": range(model.cfg.n_heads)}  # fmt: skip
    cells = list(itertools.product(*(ranges[a] for a in axes)))
    out = torch.empty(len(cells))
    n_batch = run_tokens.shape[0]
    step = _batch_size(run_tokens, model.cfg.d_vocab, len(cells))
    for start in range(0, len(cells), step):
        chunk = cells[start : start + step]
        by_layer: dict[int, list[tuple[int, tuple]]] = {}
        for j, cell in enumerate(chunk):
            real = [positions[i] if a == "pos" else i for a, i in zip(axes[1:], cell[1:])]
            by_layer.setdefault(layers[cell[0]], []).append((j, _index(hook, axes[1:], real)))

        def patch(x: torch.Tensor, hook_point, layer: int) -> torch.Tensor:
            value = source[_hook(hook, layer)].to(x.device, x.dtype)  # [batch, ...]
            x = x.clone().view(len(chunk), n_batch, *x.shape[1:])  # [replicate, batch, ...]
            for j, index in by_layer[layer]:
                x[j][index] = value[index]
            return x.view(len(chunk) * n_batch, *x.shape[2:])

        fwd = [(_hook(hook, layer), lambda x, h, layer=layer: patch(x, h, layer)) for layer in by_layer]
        with model.hooks(fwd=fwd):
            logits = model(run_tokens.repeat(len(chunk), 1))  # [replicate*batch, pos, d_vocab]
        logits = logits.view(len(chunk), n_batch, *logits.shape[1:])
        for j in range(len(chunk)):
            out[start + j] = metric(logits[j]).float().cpu()
    return out.view(*(len(ranges[a]) for a in axes))


def attribution_patch(
    model: Transformer,
    clean_tokens: torch.Tensor,
    corrupted_tokens: torch.Tensor,
    metric: Metric,
    hooks: Sequence[str],
    direction: str = "denoise",
) -> dict[str, torch.Tensor]:
    """First-order (gradient x difference) estimate of patching every element of ``hooks``.

    Args:
        model: The model.
        clean_tokens, corrupted_tokens: [batch, pos] prompt pairs.
        metric: logits -> scalar, differentiable.
        hooks: Full hook names.
        direction: "denoise" (``(a_c - a_r) · ∂m/∂a`` at the corrupted run) or "noise"
            (``(a_r - a_c) · ∂m/∂a`` at the clean run).

    Returns:
        ``{hook: estimate}`` summed over the batch and the activation's last axis:
        [pos] for residual-like hooks, [pos, head] for z/q/k/v, [head, dest] for pattern.
    """
    if direction not in ("denoise", "noise"):
        raise ValueError(f"direction must be 'denoise' or 'noise', not {direction!r}")
    grad_run, other = (corrupted_tokens, clean_tokens) if direction == "denoise" else (clean_tokens, corrupted_tokens)
    with torch.no_grad():
        _, other_cache = model.run_with_cache(other, names_filter=list(hooks))
    acts: dict[str, torch.Tensor] = {}

    def leaf(x: torch.Tensor, hook) -> torch.Tensor:
        return x if x.requires_grad else x.detach().requires_grad_(True)

    def keep(x: torch.Tensor, hook) -> None:
        acts[hook.name] = x

    with torch.enable_grad(), model.hooks(fwd=[(hn.EMBED, leaf)] + [(name, keep) for name in hooks]):
        value = metric(model(grad_run))
        grads = torch.autograd.grad(value, [acts[name] for name in hooks], allow_unused=True)
    out = {}
    for name, grad in zip(hooks, grads):
        act = acts[name].detach()
        if grad is None:
            grad = torch.zeros_like(act)
        out[name] = ((other_cache[name].to(act.device) - act) * grad).sum(dim=(0, -1)).cpu()
    return out


def attribution_grid(
    attributions: dict[str, torch.Tensor], name: str, n_layers: int, positions: Sequence[int] | None = None
) -> torch.Tensor:
    """Arrange :func:`attribution_patch` output like :func:`activation_patch` for a granularity.

    Args:
        attributions: Output of attribution_patch holding every hook of ``name``.
        name: A key of :data:`GRANULARITIES`.
        n_layers: Number of layers.
        positions: Positions kept on the pos axis (default all).
    """
    gran = GRANULARITIES[name]
    per_layer = torch.stack([attributions[h] for h in granularity_hooks(name, n_layers)])
    pos = slice(None) if positions is None else list(positions)
    if gran.kind == "pattern":  # [layer, head, dest]
        return per_layer.sum(-1) if gran.axes == ("layer", "head") else per_layer[:, :, pos]
    if gran.kind in ("z", "q", "k", "v"):  # [layer, pos, head]
        return per_layer.sum(1) if gran.axes == ("layer", "head") else per_layer[:, pos]
    return per_layer[:, pos]  # [layer, pos]


@torch.no_grad()
def _path_step2(
    model: Transformer, clean_tokens: torch.Tensor, clean: Cache, new: Cache,
    senders: Sequence[tuple[int, int]], freeze_mlps: bool, record: Sequence[str],
) -> tuple[torch.Tensor, Cache]:  # fmt: skip
    """Clean run with sender z from the new run, every other head frozen at its clean z."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in senders:
        by_layer.setdefault(layer, []).append(head)

    def set_z(x: torch.Tensor, hook, layer: int) -> torch.Tensor:
        z = clean[hn.attn(layer, "z")].clone()  # [batch, pos, head, d_head]
        for head in by_layer.get(layer, []):
            z[:, :, head] = new[hn.attn(layer, "z")][:, :, head]
        return z.to(x.device, x.dtype)

    fwd = [(hn.attn(l, "z"), lambda x, h, l=l: set_z(x, h, l)) for l in range(model.cfg.n_layers)]
    if freeze_mlps and not model.cfg.attn_only:
        fwd += [(hn.mlp_out(l), lambda x, h, l=l: clean[hn.mlp_out(l)].to(x.device))
                for l in range(model.cfg.n_layers)]  # fmt: skip
    store: dict[str, torch.Tensor] = {}
    fwd += [(name, lambda x, h: store.__setitem__(h.name, x.detach())) for name in record]
    with model.hooks(fwd=fwd):
        logits = model(clean_tokens)
    return logits, Cache(store)


def _path_caches(model: Transformer, clean_tokens: torch.Tensor, new_tokens: torch.Tensor) -> tuple[Cache, Cache]:
    names = lambda n: n.endswith(("hook_z", "hook_mlp_out"))  # noqa: E731
    with torch.no_grad():
        return model.run_with_cache(clean_tokens, names_filter=names)[1], model.run_with_cache(
            new_tokens, names_filter=names
        )[1]


def path_patch(
    model: Transformer,
    clean_tokens: torch.Tensor,
    new_tokens: torch.Tensor,
    senders: Sequence[tuple[int, int]],
    receivers: Sequence[tuple[int, int, str]] | str,
    freeze_mlps: bool = False,
    metric: Metric | None = None,
) -> float:
    """Patch senders' new-run output only along the path into the receivers (docs/methods.md §5.5).

    Args:
        model: The model.
        clean_tokens, new_tokens: [batch, pos] clean and "new" (corrupted) prompts.
        senders: (layer, head) pairs whose z comes from the new run.
        receivers: ``"logits"`` (direct path to the output), or (layer, head, input) triples
            with input "q", "k" or "v".
        freeze_mlps: Also hold every MLP at its clean output (default: MLPs recompute).
        metric: logits -> scalar; required.

    Returns:
        The metric of the path-patched clean run.
    """
    if metric is None:
        raise ValueError("path_patch needs metric=")
    clean, new = _path_caches(model, clean_tokens, new_tokens)
    recv = [] if receivers == "logits" else list(receivers)
    record = sorted({hn.attn(layer, inp) for layer, _, inp in recv})
    logits, step2 = _path_step2(model, clean_tokens, clean, new, senders, freeze_mlps, record)
    if receivers == "logits":
        return float(metric(logits))

    def set_input(x: torch.Tensor, hook) -> torch.Tensor:
        x = x.clone()  # [batch, pos, head, d_head]
        for layer, head, inp in recv:
            if hook.name == hn.attn(layer, inp):
                x[:, :, head] = step2[hook.name][:, :, head]
        return x

    with torch.no_grad(), model.hooks(fwd=[(name, set_input) for name in record]):
        return float(metric(model(clean_tokens)))


@torch.no_grad()
def _receiver_pass(
    model: Transformer, tokens: torch.Tensor, step2: Cache, record: Sequence[str],
    cells: Sequence[tuple[int, int]],
) -> torch.Tensor:  # fmt: skip
    """Replicate j patches receiver head cells[j][0]'s input "qkv"[cells[j][1]] from step 2."""
    n_batch = tokens.shape[0]

    def set_input(x: torch.Tensor, hook) -> torch.Tensor:
        inp = "qkv".index(hook.name[-1])
        x = x.clone().view(len(cells), n_batch, *x.shape[1:])  # [replicate, batch, pos, head, d_head]
        for j, (recv, which) in enumerate(cells):
            if which == inp:
                x[j][:, :, recv] = step2[hook.name][:, :, recv]
        return x.view(-1, *x.shape[2:])

    with model.hooks(fwd=[(name, set_input) for name in record]):
        logits = model(tokens.repeat(len(cells), 1))  # [replicate*batch, pos, d_vocab]
    return logits.view(len(cells), n_batch, *logits.shape[1:])


def path_patch_sweep(
    model: Transformer, clean_tokens: torch.Tensor, new_tokens: torch.Tensor, metric: Metric,
    freeze_mlps: bool = False, senders: Sequence[tuple[int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Every head (or each of ``senders``) as a sender, into the logits and into each
    next-layer head's q, k and v.

    Receivers are limited to the next layer (adjacent-layer composition) to keep the cost
    at n_layers x n_heads x (1 + 3 n_heads) forward passes; ``senders`` (layer, head) pairs
    cut it to len(senders) x (1 + 3 n_heads), each sender's cells unchanged.

    Returns:
        ``(to_logits [layer, head], to_next [layer, head, recv_head, 3])``; the last layer of
        ``to_next`` is NaN (no next layer), as is every cell of a head not in ``senders``.
        Inputs are ordered q, k, v.
    """
    L, H = model.cfg.n_layers, model.cfg.n_heads
    clean, new = _path_caches(model, clean_tokens, new_tokens)
    to_logits = torch.full((L, H), float("nan"))
    to_next = torch.full((L, H, H, 3), float("nan"))
    swept = itertools.product(range(L), range(H)) if senders is None else sorted(set(senders))
    for layer, head in swept:
        record = [hn.attn(layer + 1, inp) for inp in "qkv"] if layer + 1 < L else []
        logits, step2 = _path_step2(model, clean_tokens, clean, new, [(layer, head)], freeze_mlps, record)
        to_logits[layer, head] = float(metric(logits))
        if not record:
            continue
        cells = list(itertools.product(range(H), range(3)))  # (receiver head, input)
        step = _batch_size(clean_tokens, model.cfg.d_vocab, len(cells))
        for start in range(0, len(cells), step):
            chunk = cells[start : start + step]
            out = _receiver_pass(model, clean_tokens, step2, record, chunk)
            for j, (recv, which) in enumerate(chunk):
                to_next[layer, head, recv, which] = float(metric(out[j]))
    return to_logits, to_next
