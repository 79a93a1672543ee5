"""Analysis step: a sparse autoencoder on the residual stream, its metrics and its latents.

Which rungs: the full rung (a model with MLP blocks, ``gpt-4l`` in the ladder), at one
residual point (``layer``, ``hook``). Attention-only and 0-layer rungs are skipped with that
reason, and so are checkpoints whose training corpus is unknown (there is no text to train on).

Training (docs/methods.md §9.1-9.3): activations at ``blocks.{layer}.hook_{hook}`` of every
non-BOS token of windows cut from the training stream, shuffled in a buffer refilled from it;
TopK with AuxK (default) or SAELens's standard ReLU + decoder-norm-weighted L1; the shared loop
``interp_core.training.fit``. Evaluation (§9.4, §9.5): ``eval_tokens`` non-BOS tokens of
windows from the held-out stream (the training stream when there is none).

Writes ``sae/*`` (declared in ``store/schema.py``): ``metric`` / ``metric_value`` (l0, fve,
ce_rec, ...); per latent ``density``, ``max_act``, ``top_token_ids`` (the activating token of
each top context), ``hist_counts`` / ``hist_edges`` (non-zero activations); ``example_ids`` /
``example_acts`` / ``example_value`` / ``example_group`` (the top contexts, one per window,
then interval samples; ``example_group`` is -1 for a top context, else its activation
interval); ``logit_ids`` / ``logit_values`` (top then bottom tokens of ``W_dec[i] · diag(γ_f)
· W_U``, centred); ``neighbor_ids`` / ``neighbor_cos``. The big card arrays (``example_ids``,
``example_acts``) are chunked 16 latents per file, so a page reads one latent's contexts
from one small file; the small ones are whole arrays a page reads once. The
SAE itself is saved as checkpoint kind ``"sae"`` in ``<checkpoint>/sae/<hook name>/``, with
an SAELens copy in its ``saelens/`` folder.

Findings (``describe``): variance explained, L0, CE recovered against zero and mean
ablation, ΔCE, dead and dense latents; a caveat when the evaluation set is smaller than the
1M tokens §9.4 asks for claims.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store \\
        --steps sae --set sae.layer=2 --set sae.expansion=16
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from interp_core.config import ModelConfig
from interp_core.sae import (SAE, ActivationBuffer, SAEConfig, export_saelens,
                             resid_activations, sae_metrics, save_sae, train_sae)
from interp_core.sae_features import feature_data
from interp_core.tokenizers import Tokenizer
from interp_core.training import OptimConfig
from jobs.analysis_context import AnalysisContext
from jobs.errors import JobError
from jobs.findings import Finding, fmt_num, fmt_pct, fmt_tokens
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("sae/",)
NEEDS = ("vocab",)
HOOKS = ("resid_pre", "resid_post")
METRICS = ("l0", "l1", "fve", "ce_clean", "ce_sae", "ce_zero", "ce_mean", "ce_rec",
           "ce_rec_mean", "dce", "dead", "dense", "l2_ratio", "cos", "rel_bias", "tokens")
CLAIM_TOKENS = 1_000_000
"""Evaluation tokens docs/methods.md §9.4 asks for before metrics are claims."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Where the SAE reads, its shape and sparsity, how long it trains, what is kept per latent."""

    layer: int = -1
    """Block whose residual stream is read; -1 = the middle block (n_layers // 2)."""
    hook: str = "resid_pre"
    """Residual point of that block: resid_pre or resid_post."""
    architecture: str = "topk"
    """'topk' (Gao et al., AuxK for dead latents) or 'standard' (SAELens ReLU + L1)."""
    expansion: int = 8
    """Latents per residual dimension (d_sae = expansion x d_model)."""
    k: int = 16
    """TopK: latents active per token."""
    l1_coefficient: float = 1.0
    """Standard: sparsity weight λ."""
    dead_steps: int = 32
    """TopK: training batches without firing after which a latent is dead (AuxK revives it)."""
    train_tokens: int = 131_072
    """Activations the SAE trains on (steps = train_tokens // batch_tokens)."""
    batch_tokens: int = 1024
    """Activations per optimizer step."""
    lr: float = 2e-3
    """Adam learning rate (5% warmup, cosine to a tenth)."""
    seq_len: int = 64
    """Tokens per window including BOS (capped at the model's n_ctx)."""
    eval_tokens: int = 8_192
    """Non-BOS evaluation tokens the metrics and feature data are pooled over."""
    top_k: int = 20
    """Top-activating contexts kept per latent (one per window)."""
    n_quantiles: int = 10
    """Evenly spaced activation intervals sampled per latent."""
    per_quantile: int = 4
    """Samples per interval."""
    left: int = 16
    """Context tokens kept left of the activating token."""
    right: int = 4
    """Context tokens kept right of it."""
    hist_bins: int = 24
    """Bins of each latent's histogram of non-zero activations."""
    logit_k: int = 10
    """Tokens kept at each end of a latent's logit effects."""
    neighbors: int = 10
    """Nearest latents by decoder cosine kept per latent."""
    seed: int = 0
    """Seeds the SAE's init, the buffer's windows and the interval samples."""

    def __post_init__(self) -> None:
        if self.hook not in HOOKS:
            raise ValueError(f"hook={self.hook!r}: use one of {', '.join(HOOKS)}")
        if self.architecture not in ("topk", "standard"):
            raise ValueError(f"architecture={self.architecture!r}: use topk or standard")
        for name in ("expansion", "k", "dead_steps", "train_tokens", "batch_tokens",
                     "eval_tokens", "top_k", "n_quantiles", "per_quantile", "hist_bins",
                     "logit_k", "neighbors"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.layer < -1:
            raise ValueError(f"layer={self.layer}: use a block index 0, 1, ... or -1 for the "
                             "middle block")
        for name in ("left", "right"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 0")
        if self.seq_len < 2:
            raise ValueError(f"seq_len={self.seq_len}: must be at least 2 (BOS and one token)")
        if self.lr <= 0:
            raise ValueError(f"lr={self.lr:g}: must be greater than 0")
        if self.l1_coefficient < 0:
            raise ValueError(f"l1_coefficient={self.l1_coefficient:g}: must be at least 0")


def describe(metrics: dict[str, float], *, layer: int, hook: str, d_sae: int, arch: str
             ) -> list[Finding]:  # fmt: skip
    """Variance explained, L0, CE recovered, dead / dense latents; a caveat on small samples."""
    refs = {"layer": layer, "hook": hook, "values": {k: float(metrics[k]) for k in METRICS}}
    text = (f"the {arch} SAE at layer {layer} ({hook}, {d_sae} latents) explains "
            f"{fmt_num(metrics['fve'])} of the variance at L0 {fmt_num(metrics['l0'], 1)}; "
            f"CE recovered {fmt_num(metrics['ce_rec'])} against zero ablation and "
            f"{fmt_num(metrics['ce_rec_mean'])} against mean ablation (ΔCE "
            f"{fmt_num(metrics['dce'], 3)} nats); {fmt_pct(metrics['dead'])} of latents are "
            f"dead and {fmt_pct(metrics['dense'])} dense (firing on over 10% of tokens)")
    out = [Finding(text, "result", refs)]
    if metrics["tokens"] < CLAIM_TOKENS:
        out.append(Finding(
            f"measured on {fmt_tokens(metrics['tokens'])} evaluation tokens, fewer than the "
            f"{fmt_tokens(CLAIM_TOKENS)} docs/methods.md §9.4 asks for: dead and dense "
            "fractions especially are estimates", "caveat", {"tokens": int(metrics["tokens"])}))
    return out


def _windows(stream: np.ndarray, n: int, seq_len: int, bos_id: int, seed: int) -> torch.Tensor:
    """``n`` windows [n, seq_len] of ``stream``, BOS first, disjoint where the stream allows."""
    rng = np.random.default_rng([seed, 7])
    span = seq_len - 1
    starts = rng.permutation(max(1, (len(stream) - span) // span))[:n] * span
    body = np.stack([stream[s : s + span] for s in starts]).astype(np.int64)
    return torch.from_numpy(np.concatenate([np.full((len(body), 1), bos_id), body], axis=1))


def _skip_reason(ctx: AnalysisContext) -> str | None:
    if ctx.cfg.n_layers == 0 or ctx.cfg.attn_only:
        return ("SAEs are trained on the full rung only (a model with MLP blocks); this is "
                "an attention-only or 0-layer model")
    if ctx.train_stream is None:
        return "the checkpoint's training corpus is unknown, so there is no text to train an SAE on"
    return None


def check(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> None:
    """Reject a layer the model does not have before any run is created."""
    n = model_cfg.n_layers
    if n > 0 and cfg.layer >= n:
        raise JobError(f"sae.layer={cfg.layer}: layer {cfg.layer} does not exist (the model has "
                       f"layers 0..{n - 1}; -1 picks the middle one)")


def train(ctx: AnalysisContext, cfg: Config) -> tuple[SAE, str, int]:
    """The trained SAE, its hook name and its layer."""
    layer = ctx.cfg.n_layers // 2 if cfg.layer == -1 else cfg.layer
    if layer >= ctx.cfg.n_layers:
        raise ValueError(f"sae.layer={cfg.layer}: the model has {ctx.cfg.n_layers} blocks "
                         f"(0..{ctx.cfg.n_layers - 1}, or -1 for the middle one)")
    hook = f"blocks.{layer}.hook_{cfg.hook}"
    d = ctx.cfg.d_model
    sae_cfg = SAEConfig(d_in=d, d_sae=cfg.expansion * d, architecture=cfg.architecture,
                        k=min(cfg.k, cfg.expansion * d), l1_coefficient=cfg.l1_coefficient,
                        dead_steps=cfg.dead_steps, hook_name=hook)  # fmt: skip
    seq_len = min(cfg.seq_len, ctx.cfg.n_ctx)
    buffer = ActivationBuffer(ctx.model, hook, ctx.train_stream, seq_len=seq_len,
                              bos_id=ctx.bos_id, batch_tokens=cfg.batch_tokens,
                              store_batch=ctx.batch_size, n_batches_in_buffer=20, seed=cfg.seed)
    sae = SAE(sae_cfg, seed=cfg.seed).to(ctx.device)
    sae.init_from_data(buffer.acts[: 4 * cfg.batch_tokens].to(ctx.device))
    steps = max(1, cfg.train_tokens // cfg.batch_tokens)
    optim = OptimConfig(steps=steps, lr=cfg.lr, warmup_frac=0.05, min_lr_frac=0.1,
                        weight_decay=0.0, betas=(0.9, 0.999), grad_clip=1.0)
    train_sae(sae, lambda step: buffer.next().to(ctx.device), optim, desc="sae")
    sae.eval()
    if sae_cfg.architecture == "standard":
        sae.fold_W_dec_norm()
    return sae, hook, layer


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding] | Skipped:
    """Train the SAE, write ``sae/*`` and the checkpoint; findings: its metrics."""
    if (reason := _skip_reason(ctx)) is not None:
        return Skipped(reason)
    sae, hook, layer = train(ctx, cfg)
    seq_len = min(cfg.seq_len, ctx.cfg.n_ctx)
    stream = ctx.val_stream if ctx.val_stream is not None else ctx.train_stream
    tokens = _windows(stream, -(-cfg.eval_tokens // (seq_len - 1)), seq_len, ctx.bos_id, cfg.seed)
    metrics = sae_metrics(sae, ctx.model, hook, tokens, batch_size=ctx.batch_size)
    acts = resid_activations(ctx.model, hook, tokens, ctx.batch_size).cpu()
    W_U = ctx.model.unembed.W_U.detach().float().cpu()
    if hasattr(ctx.model, "ln_final"):
        W_U = W_U * ctx.model.ln_final.w.detach().float().cpu()[:, None]
    feats = feature_data(sae.cpu(), acts, tokens, W_U, top_k=cfg.top_k, left=cfg.left,
                         right=cfg.right, n_quantiles=cfg.n_quantiles,
                         per_quantile=cfg.per_quantile, bins=cfg.hist_bins,
                         logit_k=cfg.logit_k, neighbors=cfg.neighbors, seed=cfg.seed)
    where = save_sae(sae, ctx.checkpoint_dir / "sae" / hook, extra={"layer": layer})
    export_saelens(sae, where / "saelens", model_name=ctx.run_id, context_size=seq_len)
    meta = {"hook": hook, "layer": layer, "architecture": sae.cfg.architecture,
            "k": sae.cfg.k, "l1_coefficient": sae.cfg.l1_coefficient,
            "train_tokens": cfg.train_tokens, "eval_tokens": int(metrics["tokens"]),
            "checkpoint": str(where), "definition": "docs/methods.md §9"}  # fmt: skip
    _write(writer, metrics, feats, meta, cfg)
    return describe(metrics, layer=layer, hook=cfg.hook, d_sae=sae.cfg.d_sae,
                    arch=sae.cfg.architecture)


def _write(writer: RunWriter, metrics: dict, feats: dict[str, np.ndarray], meta: dict,
           cfg: Config) -> None:  # fmt: skip
    """The ``sae/*`` arrays: metrics, then per latent its card data (16 latents per chunk)."""
    writer.write("sae/metric", np.array(METRICS, dtype=object))
    writer.write("sae/metric_value", np.array([metrics[k] for k in METRICS], np.float32), **meta,
                 ce_rec="against zero ablation (SAELens ce_loss_score); ce_rec_mean against "
                        "mean ablation; BOS kept unreplaced",
                 fve="pooled, about the evaluation mean vector")  # fmt: skip
    S = len(feats["density"])
    writer.write("sae/density", feats["density"], definition="share of non-BOS tokens with f > 0")
    writer.write("sae/max_act", feats["max_act"])
    writer.write("sae/top_token_ids", feats["top_ids"][:, :, cfg.left])
    writer.write("sae/hist_counts", feats["hist_counts"])
    writer.write("sae/hist_edges", feats["hist_edges"])
    q_shape = (S, cfg.n_quantiles * cfg.per_quantile)
    writer.write("sae/example_ids", np.concatenate(
        [feats["top_ids"], feats["quantile_ids"].reshape(*q_shape, -1)], axis=1))
    writer.write("sae/example_acts", np.concatenate(
        [feats["top_acts"], feats["quantile_acts"].reshape(*q_shape, -1)], axis=1
    ).astype(np.float16), activating_index=cfg.left)
    top_value = np.where(feats["top_prompt"] >= 0, feats["top_value"], np.nan)
    writer.write("sae/example_value", np.concatenate(
        [top_value, feats["quantile_value"].reshape(q_shape)], axis=1).astype(np.float32))
    groups = np.concatenate([np.full(feats["top_value"].shape[1], -1),
                             np.repeat(np.arange(cfg.n_quantiles), cfg.per_quantile)])
    writer.write("sae/example_group", groups.astype(np.int8),
                 intervals="interval q covers (q/n, (q+1)/n] x max_act; -1 = top context")
    writer.write("sae/logit_ids", np.concatenate(
        [feats["logit_up_ids"], feats["logit_down_ids"]], axis=1))
    writer.write("sae/logit_values", np.concatenate(
        [feats["logit_up_values"], feats["logit_down_values"]], axis=1),
        definition="W_dec[i] diag(ln_final.w) W_U, W_U centred over the vocabulary; "
                   "direct path only (ignores the final LayerNorm's scale)")  # fmt: skip
    writer.write("sae/neighbor_ids", feats["neighbor_ids"])
    writer.write("sae/neighbor_cos", feats["neighbor_cos"])
