"""Analyse one checkpoint into a store run: data, weights, activations, then every step.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store

Any checkpoint directory works (``config.json`` + ``model.safetensors`` with
TransformerLens keys): ours, an imported GPT-2, or hand-set weights. What the checkpoint
knows decides what the run holds: a ``training.json`` adds the loss curve and training
dynamics; a tokenizer adds readable tokens and natural-text prompts (without one, prompts
are random tokens and tokens are shown as ids).

Order is what makes a run crash-safe: every array is written, then the run is marked
complete, then its metadata consolidated (``RunWriter.finalize``). A run interrupted
half-way is never listed as complete, and re-running the job restarts it cleanly.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from interp_core.models.checkpoint import CheckpointError, load_checkpoint, read_config
from interp_core.models.transformer import Transformer
from interp_core.prompt_pairs import PromptPairError, load_prompt_pairs
from interp_core.prompts import default_pool, frequent_pool, repeated_random_tokens, text_windows
from interp_core.tokenizers import Tokenizer, TokenizerError, load_tokenizer
from jobs._common import JobError, provenance, resolve_device, seed_everything, use_all_cores
from jobs.analysis_context import AnalysisContext, StepCheckpoint
from jobs.data import prepare_data
from jobs.presets import PRESETS, TrainPreset
from jobs.steps import attribution, dynamics, heads, neurons, patching
from jobs.steps import bigrams, circuits, embeddings
from jobs.train_model import TRAINING_FILE
from store import RunWriter, StoreError, hook_names

STEPS: list[Any] = [heads, dynamics, attribution, neurons, patching, bigrams, embeddings, circuits]
"""Analysis steps run after the base arrays, in order: modules with ``run(ctx, writer)``."""


@dataclasses.dataclass(frozen=True)
class AnalyzeConfig:
    """Analyse one checkpoint into one store run."""

    checkpoint: Path
    """Checkpoint directory (config.json + model.safetensors)."""
    store_root: Path = Path("lab-store")
    """Store root; the run is written to <store_root>/<run_id>.zarr."""
    run_id: str | None = None
    """Run name; defaults to the checkpoint directory's name."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda'."""
    patching: Path | None = None
    """Optional prompt-pair file (TOML or JSON) with user patching experiments."""
    corpus: str | None = None
    """Corpus for evaluation prompts when the checkpoint does not name one."""
    seed: int = 0
    """Seeds prompt sampling."""
    overwrite: bool = False
    """Replace a complete run with the same id."""


def _load_tokenizer(model_cfg_tok: dict | None, checkpoint: Path) -> Tokenizer | None:
    if not model_cfg_tok:
        return None
    try:
        return load_tokenizer(model_cfg_tok, checkpoint_dir=checkpoint)
    except TokenizerError as err:
        raise JobError(f"cannot load the tokenizer of {checkpoint}: {err}") from None


def _training_record(checkpoint: Path) -> dict[str, Any] | None:
    path = checkpoint / TRAINING_FILE
    return json.loads(path.read_text()) if path.exists() else None


def _weights(model: Transformer) -> dict[str, np.ndarray]:
    """TransformerLens weights stacked over layers, as store.schema names them."""
    sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    out = {"weights/W_E": sd["embed.W_E"], "weights/W_U": sd["unembed.W_U"], "weights/b_U": sd["unembed.b_U"]}
    if "pos_embed.W_pos" in sd:
        out["weights/W_pos"] = sd["pos_embed.W_pos"]
    if "ln_final.w" in sd:
        out["weights/ln_final_w"], out["weights/ln_final_b"] = sd["ln_final.w"], sd["ln_final.b"]
    n = model.cfg.n_layers
    per_layer = {
        "W_Q": "attn.W_Q", "W_K": "attn.W_K", "W_V": "attn.W_V", "W_O": "attn.W_O",
        "b_Q": "attn.b_Q", "b_K": "attn.b_K", "b_V": "attn.b_V", "b_O": "attn.b_O",
        "ln1_w": "ln1.w", "ln1_b": "ln1.b", "ln2_w": "ln2.w", "ln2_b": "ln2.b",
        "W_in": "mlp.W_in", "b_in": "mlp.b_in", "W_out": "mlp.W_out", "b_out": "mlp.b_out",
    }  # fmt: skip
    for name, key in per_layer.items():
        if n and f"blocks.0.{key}" in sd:
            out[f"weights/{name}"] = np.stack([sd[f"blocks.{l}.{key}"] for l in range(n)])
    return out


def _write_training(writer: RunWriter, record: dict[str, Any]) -> None:
    curve, evals = record["curve"], record["evals"]
    writer.write("training/step", np.asarray(curve["step"], dtype=np.int64))
    writer.write("training/tokens_seen", np.asarray(curve["tokens_seen"], dtype=np.int64))
    for key in ("loss", "lr", "grad_norm"):
        writer.write(f"training/{key}", np.asarray(curve[key], dtype=np.float32))
    writer.write("training/eval_step", np.asarray(evals["step"], dtype=np.int64))
    writer.write("training/eval_tokens_seen", np.asarray(evals["tokens_seen"], dtype=np.int64))
    writer.write("training/val_loss", np.asarray(evals["val_loss"], dtype=np.float32))


def _write_activations(ctx: AnalysisContext, writer: RunWriter) -> None:
    """Residual stream at every layer boundary, attn_out/mlp_out/mlp_post and attention patterns."""
    cfg, tokens = ctx.cfg, ctx.eval_tokens
    L = cfg.n_layers
    resid_names = [hook_names.resid_pre(l) for l in range(L)] + (
        [hook_names.resid_post(L - 1)] if L else ["hook_embed"]
    )
    wanted = set(resid_names) | {hook_names.attn_out(l) for l in range(L)}
    wanted |= {hook_names.attn(l, "pattern") for l in range(L)}
    if not cfg.attn_only:
        wanted |= {hook_names.mlp_out(l) for l in range(L)} | {hook_names.mlp(l, "post") for l in range(L)}
    cache = ctx.cache(tokens, names_filter=lambda n: n in wanted)
    half = lambda t: t.numpy().astype(np.float16)  # noqa: E731
    writer.write("acts/resid", np.stack([half(cache[n]) for n in resid_names]))
    if L:
        writer.write("acts/attn_out", np.stack([half(cache[hook_names.attn_out(l)]) for l in range(L)]))
        patterns = np.stack([half(cache[hook_names.attn(l, "pattern")]) for l in range(L)])  # [layer, prompt, head, q, k]
        writer.write("attn/pattern", patterns.transpose(0, 2, 1, 3, 4))  # [layer, head, prompt, q, k]
    if L and not cfg.attn_only:
        writer.write("acts/mlp_out", np.stack([half(cache[hook_names.mlp_out(l)]) for l in range(L)]))
        writer.write("acts/mlp_post", np.stack([half(cache[hook_names.mlp(l, "post")]) for l in range(L)]))


def _eval_prompts(cfg: AnalyzeConfig, tok: Tokenizer | None, record: dict | None, preset: TrainPreset,
                  d_vocab: int, n_ctx: int) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None, dict]:
    """Natural-text prompts from the corpus's validation split, or random tokens without a tokenizer."""
    length = min(preset.prompt_len, n_ctx)
    if tok is None:
        gen = torch.Generator().manual_seed(cfg.seed)
        tokens = torch.randint(0, d_vocab, (preset.n_prompts, length), generator=gen)
        return tokens, None, None, {"prompts": "random tokens (the checkpoint has no tokenizer)"}
    data_meta = (record or {}).get("summary", {}).get("data", {})
    corpus = cfg.corpus or data_meta.get("corpus") or "stdlib"
    spec = tok.to_config()
    spec_name = spec["name"]
    if spec_name in ("gpt2-compact", "char"):  # the vocabulary was built from the corpus: reuse it
        build = {"name": spec_name, **({"k": spec["k"]} if spec_name == "gpt2-compact" else {})}
        data = prepare_data(corpus, build, max_chars=data_meta.get("max_chars"))
        if data.tokenizer.to_config() != spec:
            data = None  # a different corpus built a different vocabulary: encode with ours
    else:
        data = prepare_data(corpus, {"name": spec_name}, max_chars=data_meta.get("max_chars"))
    if data is None:
        from interp_core.corpora import encode_documents, load_corpus  # noqa: PLC0415

        split = load_corpus(corpus, max_chars=data_meta.get("max_chars")).split(0.1)
        train, val = encode_documents(split.train, tok), encode_documents(split.val, tok)
    else:
        train, val = data.train, data.val
    tokens = text_windows(val, n_prompts=preset.n_prompts, length=length, bos_id=tok.bos_id, seed=cfg.seed)
    return tokens, train, val, {"prompts": f"natural text: validation split of {corpus!r}", "corpus": corpus}


def analyze(cfg: AnalyzeConfig, *, preset: TrainPreset | None = None, progress: bool = True) -> Path:
    """Analyse ``cfg.checkpoint`` into ``<store_root>/<run_id>.zarr``; returns the run path."""
    started = time.perf_counter()
    use_all_cores()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    checkpoint = Path(cfg.checkpoint)
    try:
        model_cfg, raw = read_config(checkpoint)
        model = load_checkpoint(checkpoint, device=device)
    except CheckpointError as err:
        raise JobError(str(err)) from None
    record = _training_record(checkpoint)
    preset_name = (record or {}).get("summary", {}).get("preset") or raw.get("preset") or "tiny"
    preset = preset or PRESETS.get(preset_name, PRESETS["tiny"])
    tok = _load_tokenizer(model_cfg.tokenizer, checkpoint)
    if tok is not None and tok.d_vocab != model_cfg.d_vocab:
        raise JobError(f"tokenizer has {tok.d_vocab} tokens but the model's d_vocab is {model_cfg.d_vocab}")
    if cfg.patching is not None:  # check the user's prompt pairs before anything is written
        try:
            load_prompt_pairs(cfg.patching, tok)
        except PromptPairError as err:
            raise JobError(str(err)) from None
    tokens, train, val, prompt_meta = _eval_prompts(cfg, tok, record, preset, model_cfg.d_vocab, model_cfg.n_ctx)
    bos = tok.bos_id if tok is not None else 0
    special = [bos] + ([tok.to_config()["unk_id"]] if tok is not None and "unk_id" in tok.to_config() else [])
    pool = frequent_pool(train, 2000, special=special) if train is not None else default_pool(model_cfg.d_vocab, special=special)
    rrt_n = min(preset.rrt_n, (model_cfg.n_ctx - 1) // 2, len(pool))
    rrt = repeated_random_tokens(n=rrt_n, batch=preset.rrt_batch, pool=pool, bos_id=bos, seed=cfg.seed)
    step_ckpts = [
        StepCheckpoint(c["step"], c["tokens_seen"], checkpoint / c["path"])
        for c in (record or {}).get("checkpoints", [])
        if (checkpoint / c["path"] / "model.safetensors").exists()
    ]
    token_strs = tok.token_strs() if tok is not None else [str(i) for i in range(model_cfg.d_vocab)]
    ctx = AnalysisContext(
        run_id=cfg.run_id or checkpoint.name, model=model, device=device, eval_tokens=tokens, rrt=rrt,
        bos_id=bos, token_strs=token_strs, checkpoint_dir=checkpoint, step_checkpoints=step_ckpts,
        train_stream=train, val_stream=val,
        options={"patching_file": cfg.patching, "tokenizer": tok, "preset": preset_name},
    )  # fmt: skip
    summary = (record or {}).get("summary", {})
    attrs = {
        "config": model_cfg.to_dict() | {"tokenizer": {k: v for k, v in (model_cfg.tokenizer or {}).items() if k != "id_map"}},
        "tokenizer": {k: v for k, v in (tok.to_config() if tok else {}).items() if k not in ("id_map", "alphabet")},
        "training": summary, "rung": summary.get("rung", raw.get("rung", checkpoint.name)),
        "preset": preset_name, "n_params": model.n_params, "checkpoint": str(checkpoint.resolve()),
        "prompts": prompt_meta | {"n_prompts": int(tokens.shape[0]), "prompt_len": int(tokens.shape[1])},
        "rrt": rrt.meta, "provenance": provenance(device, cfg.seed),
    }  # fmt: skip
    try:
        writer = RunWriter.create(cfg.store_root, run_id=ctx.run_id, attrs=attrs, overwrite=cfg.overwrite)
    except StoreError as err:
        raise JobError(str(err)) from None
    base = [("tokens", lambda: writer.write("tokens", tokens.numpy().astype(np.int32))),
            ("vocab", lambda: writer.write("vocab/token_str", np.asarray(token_strs, dtype=object))),
            ("weights", lambda: [writer.write(k, v) for k, v in _weights(model).items()]),
            ("activations", lambda: _write_activations(ctx, writer))]  # fmt: skip
    if record is not None:
        base.append(("training", lambda: _write_training(writer, record)))
    work = base + [(step.__name__.rsplit(".", 1)[-1], lambda step=step: step.run(ctx, writer)) for step in STEPS]
    timings: dict[str, float] = {}
    bar = tqdm(work, desc=f"analyze {ctx.run_id}", unit="step", disable=not progress)
    for name, run_step in bar:
        bar.set_postfix(step=name)
        t0 = time.perf_counter()
        run_step()
        timings[name] = round(time.perf_counter() - t0, 3)
    writer.update_attrs(analysis={"wall_time_s": time.perf_counter() - started, "step_seconds": timings,
                                  "steps": [n for n, _ in work]})  # fmt: skip
    path = writer.finalize()
    print(f"analysed {checkpoint} -> {path} in {time.perf_counter() - started:.1f}s")
    return path
