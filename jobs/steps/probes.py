"""Analysis step: linear probes for properties of the text, layer by layer (docs/methods.md §8).

Which properties: those of ``interp_core.properties`` registered for the run's corpus
(``stdlib``: inside a string literal, inside a comment, block depth, first token of a line;
``shakespeare``: speaker name, stage direction, column). A user corpus has none, so the step
is skipped with that reason (register a property to probe one).

Prompts: ``n_prompts`` disjoint windows of ``prompt_len - 1`` tokens (BOS first) cut from the
corpus's held-out documents, labelled from the documents' text. The step's own windows, not
the run's ``tokens``: a property needs the whole document's text around the window (a window
can start inside a string). BOS is never probed.

Points: the token embedding alone (``embed``), ``resid_pre`` of each block, the final
``resid_post``. A 0-layer model is still probed (its embedding and the embedding plus
position): the token-identity baseline deeper rungs are compared with. Models: the trained
model and a randomly initialised copy of the same architecture (``random_baseline``).

Writes ``probes/*`` [probe_model, probe_property, probe_layer]: ``accuracy``, ``ci_low`` /
``ci_high`` (95% bootstrap over test prompts), ``balanced_accuracy``, ``control`` (the
Hewitt-Liang control task), ``selectivity``; ``probes/majority`` and ``n_tokens`` per
property; the labels ``property``, ``layer``, ``model`` and ``description`` / ``classes``.

Findings (``describe``): for each property, the layer that decodes it best, its accuracy with
CI, control, selectivity, the majority baseline and the random-init model there; "not
decodable" when the CI does not clear the majority baseline; a caveat when selectivity is
below ``SELECTIVITY_FLOOR`` or the random-init model does as well.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store \\
        --steps probes --set probes.n_prompts=128
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch

from interp_core.analysis import SELECTIVITY_FLOOR, probe_layers, residual_points
from interp_core.config import ModelConfig
from interp_core.corpora import CorpusError, load_corpus
from interp_core.models.transformer import Transformer
from interp_core.properties import PROPERTIES, Property, document, properties_for
from interp_core.tokenizers import Tokenizer
from jobs.analysis_context import AnalysisContext
from jobs.data import VAL_FRACTION
from jobs.errors import JobError
from jobs.findings import Finding, fmt_num
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("probes/",)
NEEDS: tuple[str, ...] = ()
MODELS = ("trained", "random-init")


@dataclasses.dataclass(frozen=True)
class Config:
    """Which prompts, properties and probe settings (docs/methods.md §8)."""

    n_prompts: int = 48
    """Windows of held-out text probed (the prompts the split is made by)."""
    prompt_len: int = 64
    """Tokens per window including BOS, capped at n_ctx."""
    properties: tuple[str, ...] = ()
    """Property names to probe; empty = every property registered for the run's corpus."""
    max_tokens: int = 2000
    """Labelled tokens per property used (a random subset, the same at every layer)."""
    n_splits: int = 3
    """Prompt-wise cross-validation folds."""
    C: float = 1.0
    """Inverse L2 strength of the logistic regression (standardised features)."""
    n_boot: int = 500
    """Bootstrap resamples of the test prompts for the 95% CI."""
    random_baseline: bool = True
    """Also probe a randomly initialised copy of the model (same architecture and tokens)."""
    seed: int = 0
    """Windows, folds, token subset, control labels, bootstrap and the random init."""

    def __post_init__(self) -> None:
        for name, least in (("n_prompts", 2), ("prompt_len", 2), ("max_tokens", 10),
                            ("n_splits", 2), ("n_boot", 10)):
            if getattr(self, name) < least:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least {least}")
        if self.n_prompts < self.n_splits:
            raise ValueError(f"n_prompts={self.n_prompts} is fewer than n_splits={self.n_splits}")
        if not self.C > 0:
            raise ValueError(f"C={self.C}: must be positive")


def check(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> None:
    """Reject unknown property names before any run is created."""
    unknown = [p for p in cfg.properties if p not in PROPERTIES]
    if unknown:
        raise JobError(f"probes.properties: unknown propert{'y' if len(unknown) == 1 else 'ies'} "
                       f"{', '.join(map(repr, unknown))}; choose from {', '.join(PROPERTIES)}")


def _chosen(ctx: AnalysisContext, cfg: Config) -> list[Property]:
    found = properties_for(ctx.corpus)
    return [p for p in found if p.name in cfg.properties] if cfg.properties else found


def probe_windows(tok: Tokenizer, names: Sequence[str], texts: Sequence[str],
                  props: Sequence[Property], *, n_prompts: int, length: int, seed: int = 0
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # fmt: skip
    """Disjoint labelled windows of documents, BOS first.

    Documents are visited in a seeded order; each gives up to ``ceil(n_prompts / n_docs)``
    evenly spaced, non-overlapping windows of ``length - 1`` tokens if some property labels
    it. Returns tokens [prompt, length] and, per property, labels [prompt, length] (-1 for
    BOS, and everywhere in a document the property does not apply to).
    """
    body, per_doc = length - 1, max(1, math.ceil(n_prompts / max(len(texts), 1)))
    tokens: list[np.ndarray] = []
    labels: dict[str, list[np.ndarray]] = {p.name: [] for p in props}
    for i in np.random.default_rng(seed).permutation(len(texts)):
        doc = document(tok, names[i], texts[i])
        labs = {p.name: p.label(doc) for p in props}
        if len(doc) < body or all(v is None for v in labs.values()):
            continue
        n_win = min(per_doc, len(doc) // body, n_prompts - len(tokens))
        for start in np.linspace(0, len(doc) - body, n_win).astype(np.int64):
            tokens.append(np.concatenate([[tok.bos_id], doc.ids[start : start + body]]))
            for name, lab in labs.items():
                row = np.full(length, -1, dtype=np.int64)
                if lab is not None:
                    row[1:] = lab[start : start + body]
                labels[name].append(row)
        if len(tokens) == n_prompts:
            break
    if not tokens:
        return np.zeros((0, length), np.int64), {n: np.zeros((0, length), np.int64) for n in labels}
    return np.stack(tokens), {name: np.stack(rows) for name, rows in labels.items()}


def _points(model: Transformer, tokens: torch.Tensor, batch_size: int, which: str
            ) -> dict[str, np.ndarray]:  # fmt: skip
    """Residual points [prompt * pos, d_model] as numpy; non-finite values are a JobError."""
    out = {}
    for name, acts in residual_points(model, tokens, batch_size=batch_size).items():
        flat = acts.reshape(-1, acts.shape[-1]).numpy()  # [prompt * pos, d_model]
        if not np.isfinite(flat).all():
            raise JobError(f"the {which} model's activations at {name} contain NaN or inf: "
                           "the checkpoint is broken; retrain it or check its weights")
        out[name] = flat
    return out


def describe(props: Sequence[Property], layers: Sequence[str], models: Sequence[str],
             res: dict[str, np.ndarray]) -> list[Finding]:
    """Where each property is decodable best, against control, majority and random init.

    Args:
        props: The probed properties, in the order of the property axis.
        layers: Names of the probed points (``embed``, ``0_pre``, ..., ``final_post``).
        models: ``("trained",)`` or ``("trained", "random-init")``.
        res: ``accuracy``, ``ci_low``, ``ci_high``, ``control``, ``selectivity``
            [model, property, layer] and ``majority`` [property].
    """
    out: list[Finding] = []
    for p, prop in enumerate(props):
        acc = res["accuracy"][0, p]
        best = int(np.argmax(acc))
        maj, layer = float(res["majority"][p]), layers[best]
        lo, hi = float(res["ci_low"][0, p, best]), float(res["ci_high"][0, p, best])
        ctrl, sel = float(res["control"][0, p, best]), float(res["selectivity"][0, p, best])
        rand = float(res["accuracy"][1, p, best]) if len(models) > 1 else None
        refs = {"property": prop.name, "probe_layer": layer,
                "values": [float(acc[best]), ctrl, sel, maj] + ([rand] if rand is not None else [])}
        if lo <= maj:
            out.append(Finding(f"{prop.doc} is not decodable above the majority baseline "
                               f"({fmt_num(maj)}) at any layer: the best probe reaches "
                               f"{fmt_num(acc[best])} at {layer} "
                               f"(95% CI {fmt_num(lo)}-{fmt_num(hi)})",
                               "null", refs))
            continue
        text = (f"{prop.doc} is decodable from {layer} at {fmt_num(acc[best])} (95% CI "
                f"{fmt_num(lo)}-{fmt_num(hi)}; control {fmt_num(ctrl)}, selectivity "
                f"{fmt_num(sel)}; majority {fmt_num(maj)})")
        if layer != "embed" and "embed" in layers:
            text += f"; the token embedding alone gives {fmt_num(acc[layers.index('embed')])}"
        if rand is not None:
            text += f"; the random-init model reaches {fmt_num(rand)} there"
        out.append(Finding(text, "result", refs))
        if sel < SELECTIVITY_FLOOR:
            out.append(Finding(f"{prop.doc}: selectivity at {layer} is only {fmt_num(sel)} "
                               f"(below {SELECTIVITY_FLOOR:g}): a probe of token identity alone "
                               "does about as well, so the accuracy need not mean the model "
                               "represents it",
                               "caveat", refs))
        elif rand is not None and rand >= lo:
            out.append(Finding(f"{prop.doc}: the random-init model decodes it about as well at "
                               f"{layer} ({fmt_num(rand)}), so the tokens, not training, carry it",
                               "caveat", refs))
    return out


def _probe_all(points: dict[str, np.ndarray], props: Sequence[Property],
               labels: dict[str, np.ndarray], tokens: np.ndarray, cfg: Config) -> list:
    groups = np.repeat(np.arange(tokens.shape[0]), tokens.shape[1])  # [prompt * pos]
    return [probe_layers(points, labels[p.name].reshape(-1), groups, types=tokens.reshape(-1),
                         n_splits=cfg.n_splits, C=cfg.C, max_tokens=cfg.max_tokens,
                         n_boot=cfg.n_boot, seed=cfg.seed) for p in props]


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding] | Skipped:
    """Probe every applicable property at every point of the trained and random-init models."""
    if ctx.tokenizer is None or ctx.corpus is None:
        return Skipped("the prompts are not text from a known corpus (no tokenizer), so there "
                       "is nothing to label")
    props = _chosen(ctx, cfg)
    if not props:
        known = sorted({c for p in PROPERTIES.values() for c in p.corpora})
        return Skipped(f"no probe property applies to corpus {ctx.corpus!r} (properties exist "
                       f"for {', '.join(known)}; register one in interp_core/properties.py)")
    try:
        split = load_corpus(ctx.corpus, max_chars=ctx.corpus_max_chars).split(VAL_FRACTION)
    except CorpusError as err:
        raise JobError(str(err)) from None
    length = min(cfg.prompt_len, ctx.cfg.n_ctx)
    tokens, labels = probe_windows(ctx.tokenizer, split.val_names, split.val, props,
                                   n_prompts=cfg.n_prompts, length=length, seed=cfg.seed)
    probed, skipped = [], {}
    for p in props:
        lab = labels[p.name]
        prompts = int((lab >= 0).any(axis=1).sum())
        n_classes = len(np.unique(lab[lab >= 0]))
        if n_classes < 2 or prompts < cfg.n_splits:
            skipped[p.name] = f"{prompts} labelled prompts with {n_classes} class(es)"
        else:
            probed.append(p)
    if not probed:
        why = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        return Skipped(f"the held-out text of {ctx.corpus!r} gives no probe property two classes "
                       f"over {cfg.n_splits} prompts ({why})")
    models = MODELS if cfg.random_baseline else MODELS[:1]
    nets = [ctx.model] + ([Transformer(ctx.cfg, seed=cfg.seed).to(ctx.device).eval()]
                          if cfg.random_baseline else [])
    token_t = torch.from_numpy(tokens)
    tables = [_probe_all(_points(net, token_t, ctx.batch_size, which), probed, labels, tokens, cfg)
              for net, which in zip(nets, models, strict=True)]
    layers = tables[0][0]["layer"].tolist()
    cols = ("accuracy", "ci_low", "ci_high", "balanced_accuracy", "control", "selectivity")
    res = {c: np.array([[t[c].to_numpy() for t in per_model] for per_model in tables],
                       dtype=np.float32) for c in cols}  # [model, property, layer]
    res["majority"] = np.array([t["majority"].iloc[0] for t in tables[0]], dtype=np.float32)
    meta = tables[0][0].attrs["meta"] | {
        "corpus": ctx.corpus, "n_prompts": int(tokens.shape[0]), "prompt_len": length,
        "prompts": "disjoint windows of the corpus's held-out documents, BOS first (not probed)",
        "token_label": "a token takes the class of its last character", "skipped": skipped,
        "definition": "docs/methods.md §8"}  # fmt: skip
    for c in cols:
        writer.write(f"probes/{c}", res[c], **(meta if c == "accuracy" else {}))
    writer.write("probes/majority", res["majority"])
    writer.write("probes/n_tokens", np.array([t["n_tokens"].iloc[0] for t in tables[0]], np.int32))
    writer.write("probes/property", np.array([p.name for p in probed], dtype=object))
    writer.write("probes/description", np.array([p.doc for p in probed], dtype=object))
    writer.write("probes/classes", np.array([" | ".join(p.classes) for p in probed], dtype=object))
    writer.write("probes/layer", np.array(layers, dtype=object))
    writer.write("probes/model", np.array(models, dtype=object))
    return describe(probed, layers, models, res)
