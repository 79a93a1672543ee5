"""Analysis step: steering vectors, swept over layers x coefficients (docs/methods.md §10).

For each contrast pair (the corpus's defaults from ``jobs/steering_pairs.toml``, or the
user's ``--steering FILE`` = ``--set steering.file=FILE``) two vectors per layer: ActAdd
(``actadd:<pair>``, the position-wise difference [k, d_model], injected at the steered
prompt's first k positions) and mean-difference (``caa:<pair>``, [d_model], injected at
every position from the prompt's last one on). For every vector x layer x coefficient the
step stores (``store/schema.py``, group ``steering/``):

- ``tokens``: continuations of each steered prompt, greedy and sampled (temperature 1, the
  step's seed; the vector x coefficient rows of one prompt and layer share a generator), next to
  ``base_tokens`` (the same without steering) and ``injected`` (which positions got the vector);
- ``logit_shift`` of the pair's own target tokens at the prompt's last position (steered -
  unsteered logit, mean over prompts), ``kl_prompt`` there;
- side effects on unrelated held-out text (the first evaluation prompts, vector injected
  from position 0): ``kl`` (mean KL(unsteered || steered) of the next-token distribution,
  nats) and ``ppl`` (steered perplexity; attr ``base_ppl`` without steering).

Findings (``describe``): per pair, the layer x coefficient that raises the positive
target's logit most and at what held-out KL; or that no setting moves it.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --steps steering \\
        --steering my_pairs.toml --set steering.coefficients=-8,-4,0,4,8
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from interp_core.analysis.steering import (actadd_vector, caa_vector, heldout_effects, injection_table,
                                           next_token_logits, resid_pre_name, steer_rows)  # fmt: skip
from interp_core.config import ModelConfig
from interp_core.sampling import generate
from interp_core.tokenizers import Tokenizer
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding, fmt_num
from jobs.steering_pairs import SteeringFileError, SteeringPair, SteeringSet, default_steering, load_steering_file
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("steering/",)
NEEDS = ("tokens",)

GEN_MODES = ("greedy", "sampled")
"""Names of the ``gen_mode`` axis."""

SHIFT_FLOOR = 0.1
"""A steering setting "moves" a target when it raises the target's logit by at least this
many logits (a smaller shift changes the token's odds by under 11%)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Which pairs, layers and coefficients, and how long the continuations are."""

    file: Path | None = None
    """Contrast-pair file (TOML or JSON, see jobs/steering_pairs.py) replacing the corpus defaults."""
    layers: tuple[int, ...] = ()
    """Layers whose resid_pre is steered (empty: every layer, or ``sweep_layers`` of them)."""
    sweep_layers: int | None = None
    """With ``layers`` empty: steer this many evenly spaced layers, the first and last
    included, instead of every one (the gpt2 profile sweeps 3 of GPT-2 small's 12: each
    layer costs a held-out pass per vector and coefficient)."""
    coefficients: tuple[float, ...] = (-4.0, -1.0, 0.0, 1.0, 4.0)
    """Coefficients c (ActAdd) / multipliers m (CAA) of the sweep."""
    new_tokens: int = 24
    """Tokens generated per continuation."""
    heldout_texts: int = 4
    """Evaluation prompts used as unrelated held-out text for KL and perplexity."""
    seed: int = 0
    """Seed of the sampled continuations."""

    def __post_init__(self) -> None:
        if not self.coefficients:
            raise ValueError("coefficients is empty: give at least one")
        for name in ("new_tokens", "heldout_texts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if any(layer < 0 for layer in self.layers):
            raise ValueError(f"layers={self.layers}: layer indices are >= 0")
        if self.sweep_layers is not None and self.sweep_layers < 1:
            raise ValueError(f"sweep_layers={self.sweep_layers}: must be at least 1")


def steered_layers(cfg: Config, n_layers: int) -> list[int]:
    """The layers the sweep steers: ``layers``, else ``sweep_layers`` evenly spaced, else all.

    Examples:
        >>> steered_layers(Config(sweep_layers=3), 12)
        [0, 6, 11]
        >>> steered_layers(Config(sweep_layers=3), 2)
        [0, 1]
    """
    if cfg.layers:
        return list(cfg.layers)
    if cfg.sweep_layers is None or cfg.sweep_layers >= n_layers:
        return list(range(n_layers))
    return sorted({int(x) for x in np.linspace(0, n_layers - 1, cfg.sweep_layers).round()})


def load_pairs(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None, corpus: str) -> SteeringSet | None:
    """The user's file (checked; a JobError when bad) or the corpus defaults; None without a tokenizer."""
    if cfg.file is not None:
        try:
            return load_steering_file(cfg.file, tokenizer, model_cfg.n_ctx, cfg.new_tokens)
        except SteeringFileError as err:
            raise JobError(str(err)) from None
    if tokenizer is None:
        return None
    return default_steering(corpus, tokenizer, model_cfg.n_ctx, cfg.new_tokens)


def check(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> None:
    """Reject a bad pair file or layer before any run is created."""
    bad = [layer for layer in cfg.layers if layer >= model_cfg.n_layers]
    if bad and model_cfg.n_layers > 0:
        raise JobError(f"steering.layers: layer {bad[0]} does not exist (the model has layers "
                       f"0..{model_cfg.n_layers - 1})")  # fmt: skip
    if cfg.file is not None:
        load_pairs(cfg, model_cfg, tokenizer, "stdlib")


def _vectors(ctx: AnalysisContext, pairs: Sequence[SteeringPair], layer: int
             ) -> list[tuple[str, SteeringPair, torch.Tensor]]:  # fmt: skip
    as_ids = lambda ids: torch.tensor(ids, dtype=torch.long)  # noqa: E731
    out = []
    for pair in pairs:
        out.append(("actadd", pair, actadd_vector(ctx.model, as_ids(pair.pos_ids), as_ids(pair.neg_ids), layer)))
        caa = [(as_ids(p), as_ids(n)) for p, n in pair.caa_pairs]
        out.append(("caa", pair, caa_vector(ctx.model, caa, layer)))
    return out


def _start(method: str, prompt_len: int) -> int:
    """First steered absolute position: ActAdd the prompt's front, CAA its last position."""
    return 0 if method == "actadd" else prompt_len - 1


def _kl(base: torch.Tensor, steered: torch.Tensor) -> torch.Tensor:
    """KL(base || steered) over the last axis of logits [..., d_vocab] -> [...], nats."""
    p, q = base.log_softmax(-1), steered.log_softmax(-1)
    return (p.exp() * (p - q)).sum(-1).clamp_min(0)


def _generations(ctx: AnalysisContext, cfg: Config, prompt: torch.Tensor, layer: int | None = None,
                 table: torch.Tensor | None = None) -> list[torch.Tensor]:  # fmt: skip
    """[greedy, sampled] continuations of ``prompt`` [1, pos]: one row, or one per row of the
    steering ``table`` [row, pos, d_model] (see ``steer_rows``)."""
    if table is None:
        return [generate(ctx.model, prompt, cfg.new_tokens, temperature=t, seed=cfg.seed) for t in (0.0, 1.0)]
    batch = prompt.repeat(table.shape[0], 1)
    with steer_rows(ctx.model, layer, table):
        return [generate(ctx.model, batch, cfg.new_tokens, temperature=t, seed=cfg.seed) for t in (0.0, 1.0)]


def _table(vectors: list[tuple[str, SteeringPair, torch.Tensor]], coeffs: torch.Tensor, prompt_len: int,
           width: int) -> torch.Tensor:  # fmt: skip
    """[vector * coeff, width, d_model]: every vector x coefficient's addition for one prompt."""
    rows = [injection_table(vec, _start(method, prompt_len), width) for method, _, vec in vectors]
    return (torch.stack(rows)[:, None] * coeffs[None, :, None, None]).flatten(0, 1)


def _padded(seqs: list[torch.Tensor], width: int) -> np.ndarray:
    out = np.full((len(seqs), width), -1, dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, : s.shape[-1]] = s.cpu().numpy()
    return out


def describe(vector_names: Sequence[str], pair_names: Sequence[str], target_strs: Sequence[Sequence[str]],
             layers: Sequence[int], coeffs: Sequence[float], logit_shift: np.ndarray,
             kl: np.ndarray) -> list[Finding]:  # fmt: skip
    """Per vector, the setting that raises the positive target's logit most, at what KL.

    Args:
        vector_names: [vector] e.g. "actadd:love-hate"; pair_names: the pair of each.
        target_strs: [vector][2] display strings of the positive and negative target tokens.
        layers, coeffs: the sweep's layers and coefficients.
        logit_shift: [vector, layer, coeff, target] steered - unsteered logit.
        kl: [vector, layer, coeff] held-out KL to the unsteered model, nats.
    """
    out = []
    shift = np.asarray(logit_shift, dtype=np.float64)[..., 0]  # [vector, layer, coeff]
    for v, name in enumerate(vector_names):
        pos, neg = target_strs[v]
        method = name.split(":")[0]
        best = np.unravel_index(int(np.nanargmax(shift[v])), shift[v].shape)
        value, layer, coeff = float(shift[v][best]), int(layers[best[0]]), float(coeffs[best[1]])
        refs = {"vector": name, "pair": pair_names[v], "layer": layer, "coeff": coeff,
                "values": [value, float(kl[v][best])]}  # fmt: skip
        if value >= SHIFT_FLOOR:
            out.append(Finding(
                f"adding the {pair_names[v]} {method} vector at layer {layer} with coefficient "
                f"{coeff:g} raises logit({pos}) by {fmt_num(value)} at a held-out KL of "
                f"{fmt_num(float(kl[v][best]))} nats", "result", refs))  # fmt: skip
        else:
            out.append(Finding(
                f"no layer or coefficient of the {pair_names[v]} {method} vector raises logit({pos}) "
                f"by {SHIFT_FLOOR} or more (best {fmt_num(value)}); it does not steer towards {pos} "
                f"over {neg} on these prompts", "null", refs))  # fmt: skip
    return out


def _corpus(ctx: AnalysisContext) -> str:
    return ((ctx.training_record or {}).get("summary", {}).get("data", {}).get("corpus")) or "stdlib"


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding] | Skipped:
    """Sweep every vector x layer x coefficient and write ``steering/*``."""
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no residual stream between blocks to steer")
    pairs = load_pairs(cfg, ctx.cfg, ctx.tokenizer, _corpus(ctx))
    if pairs is None:
        return Skipped("the checkpoint has no tokenizer, so text contrast pairs cannot be encoded")
    if not pairs.pairs:
        return Skipped(f"no default contrast pair encodes on this tokenizer: {pairs.skipped}")
    layers = steered_layers(cfg, ctx.cfg.n_layers)
    coeffs = torch.tensor(cfg.coefficients, dtype=torch.float32, device=ctx.device)
    prompts = [torch.tensor([ids], dtype=torch.long, device=ctx.device) for ids in pairs.prompt_ids]
    width = max(p.shape[1] for p in prompts) + cfg.new_tokens
    heldout = ctx.eval_tokens[: cfg.heldout_texts].to(ctx.device)
    with torch.no_grad():
        base_logits = [next_token_logits(ctx.model, p)[0] for p in prompts]  # each [d_vocab]
        base_ppl = float(ctx.model(heldout, return_type="loss").exp())
        _, cache = ctx.model.run_with_cache(heldout, names_filter=[resid_pre_name(l) for l in layers])
    resid_norm = [float(cache[resid_pre_name(l)][:, 1:].norm(dim=-1).mean()) for l in layers]
    base = [_padded(runs, width) for runs in zip(*[_generations(ctx, cfg, p) for p in prompts])]
    base_tokens = np.stack(base, axis=1)  # [prompt, gen_mode, gen_pos]
    n_vec, L, C = 2 * len(pairs.pairs), len(layers), coeffs.shape[0]
    tokens = np.full((n_vec, L, C, len(prompts), len(GEN_MODES), width), -1, dtype=np.int32)
    shift = np.zeros((n_vec, L, C, 2), dtype=np.float32)
    kl_prompt, kl, ppl = (np.zeros((n_vec, L, C), dtype=np.float32) for _ in range(3))
    norms = np.zeros((n_vec, L), dtype=np.float32)
    names: list[str] = []
    meta: list[tuple[str, SteeringPair, int]] = []  # method, pair, ActAdd length k (0 for CAA)
    for li, layer in enumerate(layers):
        vectors = _vectors(ctx, pairs.pairs, layer)
        if li == 0:
            names = [f"{method}:{pair.name}" for method, pair, _ in vectors]
            meta = [(method, pair, vec.shape[0] if vec.ndim == 2 else 0) for method, pair, vec in vectors]
        norms[:, li] = [float(vec.norm(dim=-1).max()) for _, _, vec in vectors]
        targets = torch.tensor([pair.targets for _, pair, _ in vectors], device=ctx.device)  # [vector, 2]
        for pi, prompt in enumerate(prompts):
            table = _table(vectors, coeffs, prompt.shape[1], width)  # [vector * coeff, width, d_model]
            with torch.no_grad(), steer_rows(ctx.model, layer, table):
                steered = ctx.model(prompt.repeat(table.shape[0], 1))[:, -1].float().view(n_vec, C, -1)
            moved = (steered - base_logits[pi]).gather(-1, targets[:, None, :].expand(-1, C, -1))
            shift[:, li] += (moved / len(prompts)).cpu().numpy()
            kl_prompt[:, li] += (_kl(base_logits[pi][None, None], steered) / len(prompts)).cpu().numpy()
            for mi, run_tokens in enumerate(_generations(ctx, cfg, prompt, layer, table)):
                tokens[:, li, :, pi, mi, : run_tokens.shape[1]] = run_tokens.view(n_vec, C, -1).cpu().numpy()
        for v, (_, _, vec) in enumerate(vectors):
            held_kl, held_ppl = heldout_effects(ctx.model, heldout, layer, vec, coeffs)
            kl[v, li], ppl[v, li] = held_kl.cpu().numpy(), held_ppl.cpu().numpy()
    injected = np.zeros((n_vec, len(prompts), width), dtype=np.int8)
    for v, (method, _, k) in enumerate(meta):
        for pi, prompt in enumerate(prompts):
            P = prompt.shape[1]
            if method == "actadd":
                injected[v, pi, :k] = 1
            else:
                injected[v, pi, P - 1 : P + cfg.new_tokens] = 1
    rule = ("actadd: + c * S[j] at positions j < k of the prompt (S = resid_pre(p+) - resid_pre(p-), "
            "BOS row 0); caa: + c * v at every position from the prompt's last on; held-out text: "
            "from position 0; docs/methods.md §10")  # fmt: skip
    writer.write("steering/vector", np.asarray(names, dtype=object), injection=rule)
    writer.write("steering/method", np.asarray([m for m, _, _ in meta], dtype=object))
    writer.write("steering/pair", np.asarray([p.name for _, p, _ in meta], dtype=object))
    writer.write("steering/layer", np.asarray(layers, dtype=np.int32), site="blocks.{layer}.hook_resid_pre")
    writer.write("steering/coeff", coeffs.cpu().numpy().astype(np.float32))
    writer.write("steering/prompt_text", np.asarray(pairs.prompts, dtype=object), source=pairs.source)
    writer.write("steering/prompt_len", np.asarray([p.shape[1] for p in prompts], dtype=np.int32))
    writer.write("steering/gen_mode", np.asarray(GEN_MODES, dtype=object), temperature=[0.0, 1.0], seed=cfg.seed,
                 shared_generator="the vector x coefficient rows of one prompt and layer share one")  # fmt: skip
    writer.write("steering/target", np.asarray([p.targets for _, p, _ in meta], dtype=np.int32),
                 rule="the first position where the pair's two sides differ: (positive, negative)")  # fmt: skip
    writer.write("steering/tokens", tokens, new_tokens=cfg.new_tokens)
    writer.write("steering/base_tokens", base_tokens, new_tokens=cfg.new_tokens)
    writer.write("steering/injected", injected)
    writer.write("steering/logit_shift", shift, position="the steered prompt's last position",
                 definition="steered - unsteered logit, mean over prompts")  # fmt: skip
    writer.write("steering/kl_prompt", kl_prompt, units="nats")
    writer.write("steering/kl", kl, units="nats", texts=int(heldout.shape[0]),
                 definition="mean over held-out texts and positions of KL(unsteered || steered)")  # fmt: skip
    writer.write("steering/ppl", ppl, base_ppl=base_ppl)
    writer.write("steering/vector_norm", norms, definition="L2 norm (ActAdd: of its largest row)")
    writer.write("steering/resid_norm", np.asarray(resid_norm, dtype=np.float32),
                 definition="mean L2 norm of resid_pre on the held-out text, BOS left out")  # fmt: skip
    writer.update_attrs(steering={"source": pairs.source, "skipped_pairs": pairs.skipped,
                                  "pairs": {p.name: {"positive": p.positive, "negative": p.negative}
                                            for p in pairs.pairs}})  # fmt: skip
    target_strs = [[ctx.token_strs[t] for t in p.targets] for _, p, _ in meta]
    return describe(names, [p.name for _, p, _ in meta], target_strs, layers,
                    list(cfg.coefficients), shift, kl)  # fmt: skip
