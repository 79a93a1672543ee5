"""Analysis step: what fine-tuning changed (``finetune/*``), docs/methods.md §11.

Applies to a checkpoint written by ``python -m jobs finetune`` (its ``finetune.json``
names the base); any other checkpoint is skipped with the reason.

Writes (all declared in ``store/schema.py``):

- the trade-off curve: ``finetune/forgetting``, ``gain``, ``kl_orig``, ``ce_orig``, ``ce_task``
  [ft_variant, ft_step] with ``curve_step`` (the optimizer step, -1 pads) and ``variant``
  (names). Variants are this checkpoint (first) and every fine-tune beside it in the same
  directory with the same base and corpus (``jobs.finetune.sibling_finetunes``), each at
  every saved step it kept. So one run holds the whole curve of LoRA at two ranks and
  full fine-tuning when the three were written side by side, as the ladder does.
- weight change of this checkpoint against its base, per layer and matrix type
  (``finetune/matrix``: W_Q, W_K, W_V, W_O, W_in, W_out; the heads of a layer side by side,
  W_Q as [d_model, head·d_head], W_O as [head·d_head, d_model]): ``fro``, ``spectral``,
  ``relative``, ``erank``, ``stable_rank``, ``k90``, ``amplification`` [layer, ft_matrix] and
  ``sigma`` [layer, ft_matrix, ft_sv].
- head drift: ``scores_before`` / ``scores_after`` [layer, head, score] and ``label_before`` /
  ``label_after`` [layer, head], from ``interp_core.analysis.score_heads`` on the base and
  the fine-tuned model over the same prompts.

Forgetting and gain use fixed held-out windows of the original corpus's and the new
corpus's validation splits, both encoded with the base's tokenizer (``eval_sequences``
windows of ``eval_len`` tokens; docs/methods.md asks for ≥ 1M tokens, far beyond a tiny run's
seconds: raise ``eval_sequences`` at larger presets).

Findings (``describe``): each variant's final forgetting and gain; how many head labels
changed.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l-ft-shakespeare/lora-r2 \\
        --store-root lab-store --steps finetune
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from interp_core import load_checkpoint
from interp_core.analysis import forgetting_curve, score_heads, weight_change_report
from interp_core.models.checkpoint import load_transformer
from interp_core.prompts import text_windows
from interp_core.tokenizers import load_tokenizer
from jobs.analysis_context import AnalysisContext
from jobs.finetune import (base_config, base_record, encode_corpus, finetune_record,
                           sibling_finetunes, training_record, variant_label)
from jobs.findings import Finding, fmt_num, join_words
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("finetune/",)
NEEDS = ("tokens",)
MATRICES = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out")
"""Matrix types of the weight-change maps, in display order."""
METRICS = ("fro", "spectral", "relative", "erank", "stable_rank", "k90", "amplification")


@dataclasses.dataclass(frozen=True)
class Config:
    """Held-out sample sizes and the amplification subspace."""

    eval_sequences: int = 16
    """Held-out windows per corpus for forgetting and gain (docs/methods.md §11.3)."""
    eval_len: int = 64
    """Tokens per window, BOS included (capped at the model's n_ctx)."""
    overlap_rank: int = 4
    """r of the amplification ||dW||_F / ||U_r^T W0 V_r||_F (docs/methods.md §11.2)."""
    score_prompts: int = 16
    """Natural-text evaluation prompts behind the before/after head scores."""

    def __post_init__(self) -> None:
        for name in ("eval_sequences", "overlap_rank", "score_prompts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.eval_len < 2:
            raise ValueError(f"eval_len={self.eval_len}: must be at least 2")


def fused(W: torch.Tensor, name: str) -> torch.Tensor:
    """One layer's matrix as 2-D: heads side by side (W_Q [h,d,e] -> [d, h·e]; W_O -> [h·e, d])."""
    if W.ndim == 2:
        return W
    if name == "W_O":
        return W.reshape(-1, W.shape[-1])  # [head·d_head, d_model]
    return W.permute(1, 0, 2).reshape(W.shape[1], -1)  # [d_model, head·d_head]


def weight_change(base: torch.nn.Module, tuned: torch.nn.Module, r: int
                  ) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """Per layer and matrix type, every §11.2 metric and the singular values of ΔW.

    Returns:
        (matrix names present, metric -> [layer, matrix], sigma [layer, matrix, sv] NaN-padded).
    """
    w0, w1 = base.state_dict(), tuned.state_dict()
    L = base.cfg.n_layers
    names = [m for m in MATRICES if _key(0, m) in w0]
    reports = [[weight_change_report(fused(w0[_key(layer, m)].cpu(), m), fused(w1[_key(layer, m)].cpu(), m), r)
                for m in names] for layer in range(L)]  # fmt: skip
    metrics = {k: np.array([[rep[k] for rep in row] for row in reports], dtype=np.float32) for k in METRICS}
    width = max(rep["sigma"].numel() for row in reports for rep in row)
    sigma = np.full((L, len(names), width), np.nan, dtype=np.float32)
    for layer, row in enumerate(reports):
        for j, rep in enumerate(row):
            sigma[layer, j, : rep["sigma"].numel()] = rep["sigma"].numpy()
    return names, metrics, sigma


def _key(layer: int, matrix: str) -> str:
    return f"blocks.{layer}.{'mlp' if matrix in ('W_in', 'W_out') else 'attn'}.{matrix}"


def _held_out(ctx: AnalysisContext, record: dict, cfg: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed windows of the original and the new corpus's validation splits (base tokenizer)."""
    base_dir = Path(record["base"])
    tok = ctx.tokenizer or load_tokenizer(base_config(base_dir)["tokenizer"], checkpoint_dir=base_dir)
    max_chars = base_record(base_dir).get("data", {}).get("max_chars")
    length = min(cfg.eval_len, ctx.cfg.n_ctx)
    out = []
    for corpus in (record["base_corpus"], record["corpus"]):
        _, val = encode_corpus(corpus, tok, max_chars, trained_on=record["base_corpus"])
        out.append(text_windows(val, n_prompts=cfg.eval_sequences, length=length, bos_id=tok.bos_id))
    return out[0], out[1]


def tradeoff(base: torch.nn.Module, variants: list[Path], orig: torch.Tensor, task: torch.Tensor,
             device: torch.device, batch_size: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """Forgetting, gain, KL and both CEs at every saved step of every variant [variant, step]."""
    runs = []
    for path in variants:
        record = finetune_record(path)
        saved = sorted(training_record(path).get("checkpoints", []), key=lambda c: c["step"])
        models = [load_checkpoint(path / c["path"], device=device).eval() for c in saved]
        on_orig = forgetting_curve(base, models, orig, batch_size=batch_size)
        on_task = forgetting_curve(base, models, task, batch_size=batch_size)
        rows = [(c["step"], o["forgetting"], -t["forgetting"], o["kl"], o["ce_ft"], t["ce_ft"])
                for c, o, t in zip(saved, on_orig, on_task)]  # fmt: skip
        runs.append((variant_label(record), path.name, rows))
    labels = [label for label, _, _ in runs]
    runs = [(label if labels.count(label) == 1 else f"{label} ({name})", rows) for label, name, rows in runs]
    width = max(1, max(len(rows) for _, rows in runs))
    out = {"curve_step": np.full((len(runs), width), -1, dtype=np.int64)}
    for k in ("forgetting", "gain", "kl_orig", "ce_orig", "ce_task"):
        out[k] = np.full((len(runs), width), np.nan, dtype=np.float32)
    for i, (_, rows) in enumerate(runs):
        for j, row in enumerate(rows):
            out["curve_step"][i, j] = row[0]
            for k, v in zip(("forgetting", "gain", "kl_orig", "ce_orig", "ce_task"), row[1:]):
                out[k][i, j] = v
    return [label for label, _ in runs], out


def describe(variants: list[str], curve: dict[str, np.ndarray], corpora: tuple[str, str],
             label_before: np.ndarray | None = None, label_after: np.ndarray | None = None
             ) -> list[Finding]:
    """Each variant's final forgetting and gain; how many head labels fine-tuning changed.

    Args:
        variants: variant names, this run's first.
        curve: ``tradeoff`` arrays [variant, step] (``curve_step`` -1 and NaN pad).
        corpora: (original corpus, new corpus).
        label_before, label_after: [layer, head] labels of the base and this fine-tune.
    """
    out = []
    parts, refs = [], []
    for i, name in enumerate(variants):
        valid = np.flatnonzero(curve["curve_step"][i] >= 0)
        if valid.size == 0:
            continue
        j = valid[-1]
        f, g, step = float(curve["forgetting"][i, j]), float(curve["gain"][i, j]), int(curve["curve_step"][i, j])
        parts.append(f"{name} gains {fmt_num(g)} on {corpora[1]} and forgets {fmt_num(f)} on "
                     f"{corpora[0]} after {step} steps")
        refs.append({"variant": name, "step": step, "gain": g, "forgetting": f})
    if parts:
        out.append(Finding(f"{join_words(parts)} (nats/token)", "result", {"values": refs}))
    if label_before is not None and label_after is not None:
        before, after = np.asarray(label_before).astype(str), np.asarray(label_after).astype(str)
        changed = [(int(l), int(h)) for l, h in zip(*np.nonzero(before != after))]
        if changed:
            text = (f"{len(changed)} of {before.size} head labels changed with fine-tuning: "
                    + ", ".join(f"{l}.{h} {before[l, h]} -> {after[l, h]}" for l, h in changed[:5])
                    + (" ..." if len(changed) > 5 else ""))
            out.append(Finding(text, "result", {"heads": [{"layer": l, "head": h} for l, h in changed]}))
        else:
            out.append(Finding(f"no head label changed with fine-tuning ({before.size} heads)", "null", {}))
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | list[Finding]:
    """Trade-off curve, weight change and head drift of a fine-tuned checkpoint."""
    record = finetune_record(ctx.checkpoint_dir)
    if record is None:
        return Skipped("this checkpoint is not a fine-tune (it has no finetune.json); make "
                       "one with python -m jobs finetune")
    base = load_transformer(Path(record["base"]), device=ctx.device)
    orig, task = _held_out(ctx, record, cfg)
    variants, curve = tradeoff(base, sibling_finetunes(ctx.checkpoint_dir), orig, task,
                               ctx.device, ctx.batch_size)
    corpora = {"original_corpus": record["base_corpus"], "new_corpus": record["corpus"],
               "tokens_per_corpus": int(orig[:, 1:].numel())}  # fmt: skip
    writer.write("finetune/variant", np.asarray(variants, dtype=object), base=record["base"], **corpora)
    for name, values in curve.items():
        writer.write(f"finetune/{name}", values, **corpora)
    names, metrics, sigma = weight_change(base, ctx.model, cfg.overlap_rank)
    writer.write("finetune/matrix", np.asarray(names, dtype=object),
                 layout="heads side by side: W_Q/W_K/W_V [d_model, head*d_head], W_O [head*d_head, d_model]")
    for name, values in metrics.items():
        writer.write(f"finetune/{name}", values, **({"r": cfg.overlap_rank} if name == "amplification" else {}))
    writer.write("finetune/sigma", sigma)
    n_prompts = min(cfg.score_prompts, ctx.eval_tokens.shape[0])
    args = (ctx.eval_tokens[:n_prompts], ctx.rrt.tokens, ctx.rrt.n)
    with torch.no_grad():
        before, label_before = score_heads(base, *args, batch_size=ctx.batch_size)
        after, label_after = score_heads(ctx.model, *args, batch_size=ctx.batch_size)
    columns = list(before)
    writer.write("finetune/score", np.asarray(columns, dtype=object))
    writer.write("finetune/scores_before", np.stack([before[k] for k in columns], axis=-1))
    writer.write("finetune/scores_after", np.stack([after[k] for k in columns], axis=-1))
    writer.write("finetune/label_before", label_before)
    writer.write("finetune/label_after", label_after)
    writer.update_attrs(finetune={**record, "variants": variants})
    return describe(variants, curve, (record["base_corpus"], record["corpus"]), label_before, label_after)
