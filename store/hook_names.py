"""TransformerLens-compatible hook names: the one place they are spelled out.

Torch-free, so the model (``interp_core``), the jobs and the dashboard all build names
from the same functions instead of formatting strings by hand.

Grammar: ``[blocks.{layer}.][<module>.]hook_<point>``.

Examples:
    >>> resid_post(1)
    'blocks.1.hook_resid_post'
    >>> attn(0, "pattern")
    'blocks.0.attn.hook_pattern'
    >>> parse("blocks.3.ln2.hook_scale")
    HookName(layer=3, module='ln2', point='scale')
"""

from __future__ import annotations

import dataclasses
import re

EMBED = "hook_embed"
POS_EMBED = "hook_pos_embed"

ATTN_POINTS = ("q", "k", "v", "attn_scores", "pattern", "z", "result")
"""Points inside ``blocks.{l}.attn``: q/k/v/z [batch, pos, head, d_head], attn_scores and
pattern [batch, head, query_pos, key_pos], result [batch, pos, head, d_model]."""
MLP_POINTS = ("pre", "post")
"""Points inside ``blocks.{l}.mlp``: [batch, pos, d_mlp]."""
LN_POINTS = ("scale", "normalized")
"""Points inside a LayerNorm: scale [batch, pos, 1], normalized [batch, pos, d_model]."""
BLOCK_POINTS = ("resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out")
"""Points directly on a block: all [batch, pos, d_model]."""


def resid_pre(layer: int) -> str:
    """Residual stream entering block ``layer``."""
    return f"blocks.{layer}.hook_resid_pre"


def resid_mid(layer: int) -> str:
    """Residual stream between attention and MLP of block ``layer``."""
    return f"blocks.{layer}.hook_resid_mid"


def resid_post(layer: int) -> str:
    """Residual stream leaving block ``layer``."""
    return f"blocks.{layer}.hook_resid_post"


def attn_out(layer: int) -> str:
    """Attention output of block ``layer`` (sum of head results plus b_O)."""
    return f"blocks.{layer}.hook_attn_out"


def mlp_out(layer: int) -> str:
    """MLP output of block ``layer``."""
    return f"blocks.{layer}.hook_mlp_out"


def attn(layer: int, point: str) -> str:
    """A point inside the attention module of block ``layer`` (see ATTN_POINTS)."""
    if point not in ATTN_POINTS:
        raise ValueError(f"unknown attention point {point!r}; expected one of {ATTN_POINTS}")
    return f"blocks.{layer}.attn.hook_{point}"


def mlp(layer: int, point: str) -> str:
    """A point inside the MLP of block ``layer`` (see MLP_POINTS)."""
    if point not in MLP_POINTS:
        raise ValueError(f"unknown MLP point {point!r}; expected one of {MLP_POINTS}")
    return f"blocks.{layer}.mlp.hook_{point}"


def ln(layer: int | None, which: str, point: str) -> str:
    """A LayerNorm point: ``ln(0, "ln1", "scale")`` or ``ln(None, "ln_final", "scale")``."""
    if point not in LN_POINTS:
        raise ValueError(f"unknown LayerNorm point {point!r}; expected one of {LN_POINTS}")
    if which == "ln_final":
        return f"ln_final.hook_{point}"
    if which not in ("ln1", "ln2") or layer is None:
        raise ValueError("LayerNorm must be ln1/ln2 with a layer, or ln_final without one")
    return f"blocks.{layer}.{which}.hook_{point}"


@dataclasses.dataclass(frozen=True)
class HookName:
    """A parsed hook name."""

    layer: int | None
    """Block index, or None for hooks outside the blocks."""
    module: str | None
    """Sub-module ('attn', 'mlp', 'ln1', 'ln2', 'ln_final') or None for block/root hooks."""
    point: str
    """The point name without the ``hook_`` prefix."""


_PATTERN = re.compile(r"^(?:blocks\.(\d+)\.)?(?:(attn|mlp|ln1|ln2|ln_final)\.)?hook_(\w+)$")


def parse(name: str) -> HookName:
    """Parse a hook name produced by the builders above; raises ValueError otherwise."""
    match = _PATTERN.match(name)
    if match is None:
        raise ValueError(f"not a hook name: {name!r}")
    layer, module, point = match.groups()
    return HookName(None if layer is None else int(layer), module, point)


def expected_hook_names(n_layers: int, *, has_pos: bool, has_mlp: bool, has_ln: bool) -> set[str]:
    """Every hook name a model of this shape exposes (the contract tests check it)."""
    names = {EMBED}
    if has_pos:
        names.add(POS_EMBED)
    for layer in range(n_layers):
        names |= {f"blocks.{layer}.hook_{p}" for p in ("resid_pre", "resid_post", "attn_out")}
        names |= {attn(layer, p) for p in ATTN_POINTS}
        if has_ln:
            names |= {ln(layer, "ln1", p) for p in LN_POINTS}
        if has_mlp:
            names |= {resid_mid(layer), mlp_out(layer)}
            names |= {mlp(layer, p) for p in MLP_POINTS}
            if has_ln:
                names |= {ln(layer, "ln2", p) for p in LN_POINTS}
    if has_ln:
        names |= {ln(None, "ln_final", p) for p in LN_POINTS}
    return names
