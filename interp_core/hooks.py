"""Hook points: named identity modules around every intermediate activation.

A ``HookPoint`` wraps one tensor in the forward pass. ``HookedModule.setup()`` names every
HookPoint from its module path (so the names *are* TransformerLens's hook names) and
builds ``hook_dict``. Hooks are added only inside ``with model.hooks(...)`` or by
``run_with_cache``; both remove them on exit, even after an exception, so no hook can leak
into a later run.

A forward hook is ``fn(tensor, hook) -> tensor | None``: return a tensor to replace the
activation (patching, steering), or None to only observe it. A backward hook receives the
gradient of the loss with respect to the activation, ``fn(grad, hook) -> None``.

Examples:
    >>> with model.hooks(fwd=[("blocks.0.attn.hook_pattern", lambda x, hook: x * 0)]):
    ...     logits = model(tokens)
    >>> logits, cache = model.run_with_cache(tokens)
    >>> cache["blocks.0.hook_resid_post"].shape   # [batch, pos, d_model]
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], "torch.Tensor | None"]
NameFilter = Callable[[str], bool] | str | Iterable[str] | None


class HookPoint(nn.Module):
    """Identity module that calls the hooks attached to it; ``name`` is set by setup()."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""
        self._fwd: list[HookFn] = []
        self._bwd: list[HookFn] = []

    @property
    def has_hooks(self) -> bool:
        """True when any forward or backward hook is attached."""
        return bool(self._fwd or self._bwd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self._fwd:
            out = fn(x, self)
            if out is not None:
                x = out
        if self._bwd and x.requires_grad:
            for fn in self._bwd:
                x.register_hook(lambda grad, fn=fn: fn(grad, self))
        return x

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r}, fwd={len(self._fwd)}, bwd={len(self._bwd)})"


@dataclasses.dataclass(frozen=True)
class Cache(Mapping[str, torch.Tensor]):
    """Activations by hook name. Plain data: holds no reference to the model."""

    tensors: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(
                f"{name!r} is not in the cache; cached: {sorted(self.tensors)[:8]}..."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def stack(self, names: Iterable[str], dim: int = 0) -> torch.Tensor:
        """Stack several cached tensors along a new leading axis (e.g. one per layer)."""
        return torch.stack([self[name] for name in names], dim=dim)

    def to(self, device: str | torch.device) -> Cache:
        """A copy with every tensor moved to ``device``."""
        return Cache({k: v.to(device) for k, v in self.tensors.items()})


def _name_filter(names: NameFilter) -> Callable[[str], bool]:
    if names is None:
        return lambda name: True
    if callable(names):
        return names
    if isinstance(names, str):
        return lambda name: name == names
    wanted = set(names)
    return lambda name: name in wanted


LIVE_MODELS: weakref.WeakSet[HookedModule] = weakref.WeakSet()
"""Every set-up model still alive; the test suite checks none of them keeps a hook."""


def leaked_hooks() -> list[str]:
    """Names of hook points (of live models) that still have hooks attached."""
    return [p.name for m in list(LIVE_MODELS) for p in m.hook_dict.values() if p.has_hooks]


class HookedModule(nn.Module):
    """Root module that names its HookPoints and adds hooks only within a context."""

    hook_dict: dict[str, HookPoint]

    def setup(self) -> None:
        """Name every HookPoint after its module path and index them in ``hook_dict``."""
        LIVE_MODELS.add(self)
        self.hook_dict = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_dict[name] = module

    def _hook_point(self, name: str) -> HookPoint:
        try:
            return self.hook_dict[name]
        except KeyError:
            raise KeyError(
                f"no hook point named {name!r}; see model.hook_dict for the names"
            ) from None

    @contextlib.contextmanager
    def hooks(
        self,
        fwd: Iterable[tuple[str | Callable[[str], bool], HookFn]] = (),
        bwd: Iterable[tuple[str | Callable[[str], bool], HookFn]] = (),
    ) -> Iterator[HookedModule]:
        """Attach forward/backward hooks for the duration of a ``with`` block.

        Args:
            fwd: (name or name predicate, fn) pairs run on the activation in the forward pass.
            bwd: (name or name predicate, fn) pairs run on the activation's gradient.
        """
        added: list[tuple[list[HookFn], HookFn]] = []
        try:
            for kind, pairs in (("_fwd", fwd), ("_bwd", bwd)):
                for name, fn in pairs:
                    points = (
                        [p for n, p in self.hook_dict.items() if name(n)]
                        if callable(name)
                        else [self._hook_point(name)]
                    )
                    for point in points:
                        getattr(point, kind).append(fn)
                        added.append((getattr(point, kind), fn))
            yield self
        finally:
            for fns, fn in added:
                fns.remove(fn)

    def reset_hooks(self) -> None:
        """Remove every hook (only needed after a crash inside custom code)."""
        for point in self.hook_dict.values():
            point._fwd.clear()
            point._bwd.clear()

    def run_with_cache(
        self,
        *args,
        names_filter: NameFilter = None,
        device: str | torch.device | None = None,
        detach: bool = True,
        **kwargs,
    ) -> tuple[torch.Tensor, Cache]:
        """Run the model and return (output, Cache of every matching hook's activation).

        Args:
            names_filter: None (every hook), a name, a list of names, or a predicate.
            device: move cached tensors here (e.g. "cpu" to save GPU memory).
            detach: detach cached tensors from the graph (default True).
        """
        keep = _name_filter(names_filter)
        store: dict[str, torch.Tensor] = {}

        def save(x: torch.Tensor, hook: HookPoint) -> None:
            y = x.detach() if detach else x
            store[hook.name] = y.to(device) if device is not None else y

        names = [n for n in self.hook_dict if keep(n)]
        with self.hooks(fwd=[(n, save) for n in names]):
            out = self(*args, **kwargs)
        return out, Cache(store)
