"""Sparse autoencoders on the residual stream: architectures, training, metrics, checkpoints.

Definitions are those of docs/methods.md §9. Shapes (``d`` = ``d_in``, ``S`` = ``d_sae``):
``W_enc [d, S]``, ``b_enc [S]``, ``W_dec [S, d]``, ``b_dec [d]``.

- ``"standard"`` (SAELens's standard SAE, docs/methods.md §9.2): ``f = ReLU((x - b_dec) W_enc
  + b_enc)``, ``x̂ = f W_dec + b_dec``; loss ``mean_tokens Σ_d (x - x̂)² + λ mean_tokens Σ_i f_i
  ||W_dec[i]||``; decoder norms are free, so :meth:`SAE.fold_W_dec_norm` before reading latents.
- ``"topk"`` (Gao et al., docs/methods.md §9.2): keep the ``k`` largest pre-activations per
  token, then ReLU; unit-norm decoder rows kept by :func:`project_decoder_grad` /
  :func:`normalize_decoder` around every update; loss ``MSE / Var(x) + α L_aux`` where
  ``L_aux`` reconstructs the residual from the top ``k_aux`` pre-activations of dead latents
  (docs/methods.md §9.3).

Training (:func:`train_sae`) runs the shared loop :func:`interp_core.training.fit` on batches
from an :class:`ActivationBuffer` (shuffled non-BOS activations, refilled from the corpus,
docs/methods.md §9.1). :func:`sae_metrics` pools docs/methods.md §9.4's metrics over an
evaluation set; ``interp_core.sae_features.feature_data`` computes each latent's dashboard
(docs/methods.md §9.5).

Checkpoints: kind ``"sae"`` (``config.json`` + ``model.safetensors``; ``load_checkpoint``
dispatches to :func:`load_sae`); :func:`export_saelens`
/ :func:`load_saelens` write and read SAELens 6.x's layout (``cfg.json`` +
``sae_weights.safetensors``).

Examples:
    >>> sae = SAE(SAEConfig(d_in=64, d_sae=512, architecture="topk", k=16))
    >>> f = sae.encode(x)              # [..., 512], at most 16 non-zeros per token
    >>> x_hat = sae.decode(f)          # [..., 64]
    >>> sae_metrics(sae, model, "blocks.2.hook_resid_pre", tokens)["fve"]
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from interp_core.models.checkpoint import (CONFIG_FILE, WEIGHTS_FILE, CheckpointError,
                                           read_raw_config)
from interp_core.training import OptimConfig, TrainState, fit

ARCHITECTURES = ("standard", "topk")
SAE_KIND = "sae"
SAELENS_CFG = "cfg.json"
SAELENS_WEIGHTS = "sae_weights.safetensors"
DENSE_DENSITY = 0.1
"""A latent firing on more than this share of tokens is dense (lab convention, §9.4)."""


@dataclasses.dataclass(frozen=True)
class SAEConfig:
    """Shape and sparsity mechanism of one sparse autoencoder."""

    d_in: int
    """Width of the activations it reads (``d_model`` for the residual stream)."""
    d_sae: int
    """Number of latents ``S``."""
    architecture: str = "topk"
    """'standard' (ReLU + decoder-norm-weighted L1, SAELens) or 'topk' (Gao et al.)."""
    k: int = 32
    """TopK: latents kept per token (sets L0 directly)."""
    l1_coefficient: float = 1.0
    """Standard: sparsity weight λ (tune it for L0 ≈ 20-100)."""
    aux_k: int | None = None
    """TopK: dead latents' pre-activations the AuxK loss uses (None: ``d_in // 2``, SAELens)."""
    aux_coefficient: float = 1 / 32
    """TopK: weight α of the AuxK loss (Gao's 1/32)."""
    dead_steps: int = 200
    """A latent is dead when it has not fired in this many training batches (for AuxK)."""
    hook_name: str = "blocks.0.hook_resid_pre"
    """TransformerLens hook the SAE reads and writes."""
    decoder_init_norm: float = 0.1
    """Standard: initial norm of every decoder row (SAELens ``decoder_init_norm``)."""

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {self.architecture!r}; "
                             f"use one of {', '.join(ARCHITECTURES)}")
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"d_in and d_sae must be >= 1, got {self.d_in}, {self.d_sae}")
        if self.architecture == "topk" and not 1 <= self.k <= self.d_sae:
            raise ValueError(f"k={self.k} must be in [1, d_sae={self.d_sae}]")
        if self.l1_coefficient < 0 or self.aux_coefficient < 0:
            raise ValueError("l1_coefficient and aux_coefficient must be >= 0")

    @property
    def k_aux(self) -> int:
        """Dead latents the AuxK loss may use (``aux_k`` or ``d_in // 2``), at most ``d_sae``."""
        return min(self.aux_k or max(1, self.d_in // 2), self.d_sae)

    @property
    def layer(self) -> int | None:
        """The block index in ``hook_name`` (``blocks.2.hook_resid_pre`` -> 2), if any."""
        parts = self.hook_name.split(".")
        return int(parts[1]) if len(parts) > 2 and parts[0] == "blocks" else None


class SAE(nn.Module):
    """A sparse autoencoder ``x -> f -> x̂`` (docs/methods.md §9.2)."""

    def __init__(self, cfg: SAEConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        d, S = cfg.d_in, cfg.d_sae
        gen = torch.Generator().manual_seed(seed)
        bound = 1 / math.sqrt(d)  # kaiming-uniform (a = sqrt(5)) for a [S, d] weight
        W_dec = (torch.rand(S, d, generator=gen) * 2 - 1) * bound
        norm = cfg.decoder_init_norm if cfg.architecture == "standard" else 1.0
        W_dec = W_dec / W_dec.norm(dim=1, keepdim=True) * norm
        self.W_dec = nn.Parameter(W_dec)  # [S, d]
        self.W_enc = nn.Parameter(W_dec.T.clone())  # [d, S]
        self.b_enc = nn.Parameter(torch.zeros(S))
        self.b_dec = nn.Parameter(torch.zeros(d))
        self.register_buffer("x_var", torch.ones(()))  # mean squared deviation from the mean
        self.register_buffer("since_fired", torch.zeros(S, dtype=torch.long))

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations ``(x - b_dec) W_enc + b_enc`` [..., S]."""
        return (x - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Latents from pre-activations: ReLU, or ReLU of the top ``k`` per token (TopK)."""
        if self.cfg.architecture == "standard":
            return F.relu(pre)
        values, index = pre.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, index, F.relu(values))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations ``f`` [..., S] of activations ``x`` [..., d]."""
        return self.activate(self.pre_acts(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x̂ = f W_dec + b_dec`` [..., d]."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x̂`` [..., d] of ``x`` [..., d]."""
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Training loss on a batch ``x`` [n, d] (docs/methods.md §9.2); in training mode it also
        counts, per latent, the batches since it last fired (the AuxK dead mask)."""
        pre = self.pre_acts(x)  # [n, S]
        f = self.activate(pre)
        x_hat = self.decode(f)
        if self.training:
            with torch.no_grad():
                self.since_fired += 1
                self.since_fired[(f > 0).any(0)] = 0
        if self.cfg.architecture == "standard":
            mse = (x - x_hat).pow(2).sum(-1).mean()
            sparsity = (f * self.W_dec.norm(dim=1)).sum(-1).mean()
            return mse + self.cfg.l1_coefficient * sparsity
        mse = (x - x_hat).pow(2).mean() / self.x_var
        return mse + self.cfg.aux_coefficient * self._aux_loss(x - x_hat.detach(), pre)

    def _aux_loss(self, residual: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """AuxK: reconstruct the residual [n, d] from the top pre-activations of dead latents,
        without the bias, scaled by ``min(n_dead / k_aux, 1)``; 0 when none is dead."""
        dead = self.since_fired >= self.cfg.dead_steps
        n_dead = int(dead.sum())
        if n_dead == 0:
            return pre.new_zeros(())
        k_aux = min(self.cfg.k_aux, n_dead)
        masked = pre.masked_fill(~dead, float("-inf"))
        values, index = masked.topk(k_aux, dim=-1)
        z = torch.zeros_like(pre).scatter_(-1, index, F.relu(values))
        scale = min(n_dead / self.cfg.k_aux, 1.0)
        return scale * (residual - z @ self.W_dec).pow(2).mean() / self.x_var

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent init on a sample ``x`` [n, d]: the variance that normalises TopK's
        MSE, and for TopK ``b_dec`` = the sample's geometric median (standard keeps 0)."""
        self.x_var.copy_((x - x.mean(0)).pow(2).mean().clamp_min(1e-12))
        if self.cfg.architecture == "topk":
            self.b_dec.copy_(geometric_median(x))

    @torch.no_grad()
    def fold_W_dec_norm(self) -> None:
        """Give every decoder row unit norm and scale its encoder column and bias to match:
        ``x̂`` is unchanged for ReLU SAEs (docs/methods.md §9.2, §9.7)."""
        norms = self.W_dec.norm(dim=1).clamp_min(1e-12)  # [S]
        self.W_dec /= norms[:, None]
        self.W_enc *= norms[None, :]
        self.b_enc *= norms


def geometric_median(x: torch.Tensor, iters: int = 50, eps: float = 1e-8) -> torch.Tensor:
    """Weiszfeld's iteration: the point minimising the summed distance to the rows of ``x``
    [n, d]."""
    median = x.mean(0)
    for _ in range(iters):
        weights = 1 / (x - median).norm(dim=1).clamp_min(eps)
        new = (weights[:, None] * x).sum(0) / weights.sum()
        if (new - median).norm() < eps * (1 + median.norm()):
            return new
        median = new
    return median


def project_decoder_grad(sae: SAE) -> None:
    """Remove from each decoder row's gradient its component along the row (unit-norm rows)."""
    if sae.W_dec.grad is not None:
        rows = sae.W_dec.detach()
        unit = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
        sae.W_dec.grad -= (sae.W_dec.grad * unit).sum(1, keepdim=True) * unit


def normalize_decoder(sae: SAE) -> None:
    """Put every decoder row back on the unit sphere (call under no_grad after the update)."""
    sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)


# --------------------------------------------------------------------------- activations
class _Reached(Exception):
    """Raised by the hook of :func:`hook_activation` to end the forward pass at its hook."""

    def __init__(self, value: torch.Tensor) -> None:
        super().__init__("hook reached")
        self.value = value


def hook_activation(model: nn.Module, hook: str, batch: torch.Tensor) -> torch.Tensor:
    """The activation at ``hook`` for ``batch``, the forward pass stopped there.

    The same tensor ``run_with_cache`` stores, without running the later blocks or the
    unembedding: for GPT-2 small's middle block that is a third of the FLOPs of a full pass.
    """
    def stop(x: torch.Tensor, point: Any) -> None:
        raise _Reached(x.detach())

    try:
        with model.hooks(fwd=[(hook, stop)]):
            model(batch)
    except _Reached as reached:
        return reached.value
    raise ValueError(f"hook {hook!r} did not run in the forward pass")


def resid_activations(model: nn.Module, hook: str, tokens: torch.Tensor, batch_size: int = 32
                      ) -> torch.Tensor:  # fmt: skip
    """Activations at ``hook`` for ``tokens`` [prompt, pos], in batches: [prompt, pos, d]."""
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for start in range(0, tokens.shape[0], batch_size):
            batch = tokens[start : start + batch_size].to(device)
            parts.append(hook_activation(model, hook, batch).float())
    return torch.cat(parts)


class ActivationBuffer:
    """Shuffled activations at one hook, refilled from a token stream (docs/methods.md §9.1).

    It holds ``n_batches_in_buffer * store_batch`` windows of ``seq_len`` tokens (BOS
    first), or enough windows for four batches of ``batch_tokens`` when that is more (a
    batch of 16,384 tokens outgrows 20 forward batches of short windows); their non-BOS
    activations are shuffled together, and when half the buffer has been served the rest
    is mixed with half a buffer of freshly computed windows. Window draws are seeded by
    ``(seed, refill)``, so a run is reproducible, though not resumable mid-run.
    """

    def __init__(self, model: nn.Module, hook: str, stream: np.ndarray, *, seq_len: int,
                 bos_id: int, batch_tokens: int, store_batch: int = 32,
                 n_batches_in_buffer: int = 20, seed: int = 0) -> None:  # fmt: skip
        if len(stream) <= seq_len:
            raise ValueError(f"the token stream ({len(stream)} tokens) is shorter than one "
                             f"window of {seq_len}")
        self.model, self.hook, self.stream = model, hook, np.asarray(stream)
        self.seq_len, self.bos_id, self.batch_tokens = seq_len, bos_id, batch_tokens
        self.store_batch, self.seed = store_batch, seed
        self.refills = 0
        self.windows = max(n_batches_in_buffer * store_batch, -(-4 * batch_tokens // (seq_len - 1)))
        self.acts = self._fresh(self.windows)  # [n, d]
        self.cursor = 0

    def _fresh(self, n: int) -> torch.Tensor:
        """Non-BOS activations [n * (seq_len - 1), d] of ``n`` new windows, shuffled."""
        rng = np.random.default_rng([self.seed, self.refills])
        self.refills += 1
        starts = rng.integers(0, len(self.stream) - self.seq_len, n)
        body = np.stack([self.stream[s : s + self.seq_len - 1] for s in starts])
        tokens = torch.from_numpy(np.concatenate(
            [np.full((n, 1), self.bos_id), body], axis=1).astype(np.int64))  # fmt: skip
        acts = resid_activations(self.model, self.hook, tokens, self.store_batch)[:, 1:]
        acts = acts.reshape(-1, acts.shape[-1])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return acts[torch.randperm(len(acts), generator=gen)]

    def next(self) -> torch.Tensor:
        """The next ``batch_tokens`` activations [batch_tokens, d]."""
        if self.cursor + self.batch_tokens > len(self.acts) // 2:
            rest = self.acts[self.cursor :]
            mixed = torch.cat([rest, self._fresh(max(1, self.windows // 2))])
            gen = torch.Generator().manual_seed(self.refills)
            self.acts, self.cursor = mixed[torch.randperm(len(mixed), generator=gen)], 0
        batch = self.acts[self.cursor : self.cursor + self.batch_tokens]
        self.cursor += self.batch_tokens
        return batch


def train_sae(sae: SAE, batches: Callable[[int], torch.Tensor], cfg: OptimConfig, *,
              progress: bool = False, desc: str = "sae") -> TrainState:  # fmt: skip
    """Train ``sae`` with the shared loop on ``batches(step)`` [n, d] (docs/methods.md §9.2).

    Adam without weight decay on every parameter; TopK keeps unit-norm decoder rows (the
    parallel gradient removed before each update, rows renormalised after it).
    """
    opt = torch.optim.Adam(sae.parameters(), lr=cfg.lr, betas=cfg.betas)
    topk = sae.cfg.architecture == "topk"
    return fit(sae, cfg, batch_fn=batches, loss_fn=lambda m, x: m.loss(x), optimizer=opt,
               before_step=project_decoder_grad if topk else None,
               after_step=normalize_decoder if topk else None, progress=progress, desc=desc)


# --------------------------------------------------------------------------- metrics
def _splice(hook: str, replace: Callable[[torch.Tensor], torch.Tensor]):
    """A forward hook that replaces every non-BOS position of the activation."""

    def fn(x: torch.Tensor, _point) -> torch.Tensor:
        out = x.clone()
        out[:, 1:] = replace(x[:, 1:])
        return out

    return [(hook, fn)]


@torch.no_grad()
def sae_metrics(sae: SAE, model: nn.Module, hook: str, tokens: torch.Tensor, *,
                batch_size: int = 32) -> dict[str, Any]:  # fmt: skip
    """docs/methods.md §9.4's metrics pooled over every non-BOS token of ``tokens`` [prompt, pos].

    Returns:
        Floats ``l0``, ``l1``, ``fve`` (about the eval-set mean vector), ``ce_clean``,
        ``ce_sae``, ``ce_zero``, ``ce_mean`` (zero- and mean-ablated hook, BOS kept),
        ``ce_rec`` (against zero ablation, SAELens's ``ce_loss_score``), ``ce_rec_mean``
        (against mean ablation), ``dce`` = ``ce_sae - ce_clean``, ``dead`` and ``dense``
        (fractions of latents), ``l2_ratio``, ``cos``, ``rel_bias``, ``tokens``; and
        ``density`` [S] (share of tokens each latent fires on).
    """
    device = next(model.parameters()).device
    n = 0
    sums = {k: 0.0 for k in ("err", "l0", "l1", "sq", "xhat_sq", "dot", "cos", "ratio")}
    x_sum = torch.zeros(sae.cfg.d_in, dtype=torch.float64)
    fires = torch.zeros(sae.cfg.d_sae, dtype=torch.float64)
    ce = {"clean": 0.0, "sae": 0.0}
    batches = [tokens[s : s + batch_size].to(device) for s in range(0, len(tokens), batch_size)]
    weights = [b.shape[0] * (b.shape[1] - 1) for b in batches]
    for batch, w in zip(batches, weights):
        x = hook_activation(model, hook, batch)[:, 1:].reshape(-1, sae.cfg.d_in).float()
        f = sae.encode(x)
        x_hat = sae.decode(f)
        n += len(x)
        x_sum += x.double().sum(0).cpu()
        fires += (f > 0).double().sum(0).cpu()
        sums["err"] += float((x - x_hat).double().pow(2).sum())
        sums["sq"] += float(x.double().pow(2).sum())
        sums["l0"] += float((f > 0).sum())
        sums["l1"] += float(f.double().sum())
        sums["xhat_sq"] += float(x_hat.double().pow(2).sum())
        sums["dot"] += float((x.double() * x_hat.double()).sum())
        sums["cos"] += float(F.cosine_similarity(x, x_hat, dim=-1).double().sum())
        ratio = x_hat.norm(dim=-1) / x.norm(dim=-1).clamp_min(1e-12)
        sums["ratio"] += float(ratio.double().sum())
        ce["clean"] += float(model(batch, return_type="loss")) * w
        with model.hooks(fwd=_splice(hook, lambda a: sae(a.float()).to(a.dtype))):
            ce["sae"] += float(model(batch, return_type="loss")) * w
    mean = x_sum / n
    ce |= {"zero": 0.0, "mean": 0.0}
    for batch, w in zip(batches, weights):
        with model.hooks(fwd=_splice(hook, torch.zeros_like)):
            ce["zero"] += float(model(batch, return_type="loss")) * w
        mean_t = mean.to(device, torch.float32)
        with model.hooks(fwd=_splice(hook, lambda a: mean_t.to(a.dtype).expand_as(a))):
            ce["mean"] += float(model(batch, return_type="loss")) * w
    ce = {k: v / sum(weights) for k, v in ce.items()}
    total_var = sums["sq"] - n * float(mean.pow(2).sum())  # Σ ||x - x̄||²
    density = fires / n
    recovered = lambda base: (base - ce["sae"]) / (base - ce["clean"])  # noqa: E731
    return {
        "l0": sums["l0"] / n, "l1": sums["l1"] / n, "fve": 1 - sums["err"] / total_var,
        "ce_clean": ce["clean"], "ce_sae": ce["sae"], "ce_zero": ce["zero"],
        "ce_mean": ce["mean"], "ce_rec": recovered(ce["zero"]),
        "ce_rec_mean": recovered(ce["mean"]), "dce": ce["sae"] - ce["clean"],
        "dead": float((fires == 0).double().mean()),
        "dense": float((density > DENSE_DENSITY).double().mean()),
        "l2_ratio": sums["ratio"] / n, "cos": sums["cos"] / n,
        "rel_bias": sums["xhat_sq"] / sums["dot"], "tokens": n,
        "density": density.float(),
    }


# --------------------------------------------------------------------------- checkpoints
def save_sae(sae: SAE, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write kind ``"sae"``: ``config.json`` (the SAEConfig + ``extra``) and
    ``model.safetensors``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in sae.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_FILE))
    config = {"kind": SAE_KIND} | dataclasses.asdict(sae.cfg) | (extra or {})
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def _config_from(raw: dict[str, Any], where: Path) -> SAEConfig:
    fields = {f.name for f in dataclasses.fields(SAEConfig)}
    try:
        return SAEConfig(**{k: v for k, v in raw.items() if k in fields})
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: not a valid SAE config ({err})") from None


def load_sae(directory: str | Path, device: str | torch.device = "cpu") -> SAE:
    """Load a kind-``"sae"`` checkpoint written by :func:`save_sae`."""
    directory = Path(directory)
    cfg = _config_from(read_raw_config(directory), directory / CONFIG_FILE)
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}")
    sae = SAE(cfg)
    try:
        sae.load_state_dict(load_file(str(path)))
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match config.json ({err})") from None
    return sae.to(device).eval()



def saelens_config(sae: SAE, *, model_name: str = "", context_size: int = 128) -> dict[str, Any]:
    """``cfg.json`` of SAELens 6.x for this SAE (fields of ``StandardSAEConfig`` /
    ``TopKSAEConfig`` plus their ``metadata``)."""
    cfg = sae.cfg
    out: dict[str, Any] = {
        "architecture": cfg.architecture, "d_in": cfg.d_in, "d_sae": cfg.d_sae,
        "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
        "normalize_activations": "none", "reshape_activations": "none",
        "metadata": {"model_name": model_name, "hook_name": cfg.hook_name,
                     "hook_head_index": None, "context_size": context_size,
                     "prepend_bos": True, "model_class_name": "HookedTransformer",
                     "sae_lens_training_version": None},
    }  # fmt: skip
    if cfg.architecture == "topk":
        out |= {"k": cfg.k, "rescale_acts_by_decoder_norm": False}
    return out


def export_saelens(sae: SAE, directory: str | Path, **metadata: Any) -> Path:
    """Write SAELens 6.x's on-disk layout: ``cfg.json`` + ``sae_weights.safetensors``
    (keys ``W_enc``, ``b_enc``, ``W_dec``, ``b_dec``); ``SAE.load_from_disk`` reads it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: getattr(sae, k).detach().cpu().float().contiguous()
               for k in ("W_enc", "b_enc", "W_dec", "b_dec")}  # fmt: skip
    save_file(weights, str(directory / SAELENS_WEIGHTS))
    (directory / SAELENS_CFG).write_text(json.dumps(saelens_config(sae, **metadata), indent=2),
                                         encoding="utf-8")
    return directory


def load_saelens(directory: str | Path) -> SAE:
    """Read an SAE in SAELens's layout (standard or TopK, activations not normalised)."""
    directory = Path(directory)
    path, weights = directory / SAELENS_CFG, directory / SAELENS_WEIGHTS
    if not path.is_file() or not weights.is_file():
        raise CheckpointError(f"{directory} lacks {SAELENS_CFG} or {SAELENS_WEIGHTS}: "
                              "not an SAELens SAE directory")
    raw = json.loads(path.read_text(encoding="utf-8"))
    arch = raw.get("architecture", "standard")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path}: architecture {arch!r} is not supported "
                              f"(only {', '.join(ARCHITECTURES)})")
    if raw.get("normalize_activations", "none") != "none" or not raw.get(
            "apply_b_dec_to_input", True):  # fmt: skip
        raise CheckpointError(f"{path}: only SAEs with normalize_activations='none' and "
                              "apply_b_dec_to_input=true can be read")
    if arch == "topk" and raw.get("rescale_acts_by_decoder_norm", False):
        raise CheckpointError(f"{path}: rescale_acts_by_decoder_norm=true is not supported; "
                              "fold the decoder norms first")
    hook = (raw.get("metadata") or {}).get("hook_name") or raw.get("hook_name") or ""
    cfg = _config_from({"architecture": arch, "d_in": raw["d_in"], "d_sae": raw["d_sae"],
                        "k": raw.get("k", 32), "hook_name": hook}, path)  # fmt: skip
    sae = SAE(cfg)
    tensors = load_file(str(weights))
    with torch.no_grad():
        for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
            if tensors[name].shape != getattr(sae, name).shape:
                raise CheckpointError(f"{weights}: {name} has shape {tuple(tensors[name].shape)}, "
                                      f"expected {tuple(getattr(sae, name).shape)}")
            getattr(sae, name).copy_(tensors[name].float())
    return sae.eval()


__all__ = ["ARCHITECTURES", "ActivationBuffer", "SAE", "SAEConfig", "export_saelens",
           "geometric_median", "load_sae", "load_saelens", "normalize_decoder",
           "hook_activation", "project_decoder_grad", "resid_activations", "sae_metrics", "save_sae",
           "saelens_config", "train_sae"]  # fmt: skip
