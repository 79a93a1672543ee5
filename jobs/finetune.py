"""Fine-tune a trained rung on a second corpus, with LoRA or in full (docs/methods.md §11).

Example:
    python -m jobs finetune --checkpoint checkpoints/tiny/gpt-4l --corpus shakespeare \\
        --method lora --rank 4 --targets W_Q,W_V --steps 200 --out checkpoints/tiny/gpt-4l-ft/lora-r4

The output directory is a transformer checkpoint holding the fine-tuned weights (for LoRA:
the base with the adapter merged in) plus ``finetune.json``, the fine-tune record (base
checkpoint, corpora, method, rank, alpha, targets, steps, learning rate, seed),
``tokenizer.json`` (the base's: the new corpus is encoded with the base's tokenizer, so
losses on both corpora are comparable), ``training.json`` (loss curve; ``val_loss`` on the
new corpus and ``orig_val_loss`` on the original one) and ``steps/step_NNNNNN/``: the
log-spaced saved steps, LoRA adapters (checkpoint kind ``"lora-adapter"`` pointing at the
base) or full checkpoints. LoRA runs also keep the final adapter in ``adapter/``.

Variants of one base meant to be compared (LoRA at two ranks, full fine-tuning) go side by
side in one directory: the ``finetune`` analysis step collects every fine-tune there with
the same base and corpus into one trade-off curve. The loop is
:func:`interp_core.training.fit`.

Everything a user can get wrong is checked by :func:`check` before torch is imported.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

from interp_core.corpora import CORPUS_NAMES
from jobs.errors import JobError
from jobs.presets import PRESETS

METHODS = ("lora", "full")
TARGET_SHAPES: dict[str, tuple[str, str]] = {
    "W_Q": ("d_model", "d_head"), "W_K": ("d_model", "d_head"), "W_V": ("d_model", "d_head"),
    "W_O": ("d_head", "d_model"), "W_in": ("d_model", "d_mlp"), "W_out": ("d_mlp", "d_model"),
}  # fmt: skip
"""LoRA targets -> the config fields giving one (per-head) matrix's shape (torch-free
mirror of ``interp_core.lora.TARGETS``)."""
FINETUNE_FILE = "finetune.json"
"""The fine-tune record inside a fine-tuned checkpoint directory."""
ORIG_VAL = "orig_val_loss"
"""training.json eval key: loss on the original corpus's validation split."""
VAL_BATCHES = 2
"""Validation batches per corpus behind the training curve's evals (the finetune analysis
step measures forgetting and gain on its own, larger held-out sample)."""


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tune one checkpoint on a second corpus."""

    checkpoint: Path
    """Base checkpoint directory (a transformer with a tokenizer)."""
    corpus: str
    """Corpus to fine-tune on: stdlib, shakespeare, or a path."""
    out: Path
    """Checkpoint directory to write."""
    method: str = "lora"
    """'lora' (peft adapters on ``targets``, base frozen) or 'full' (every weight trains)."""
    rank: int = 4
    """LoRA rank r (per head for W_Q, W_K, W_V, W_O)."""
    alpha: float | None = None
    """LoRA alpha; None = 2 r (scaling alpha / r = 2)."""
    targets: tuple[str, ...] = ("W_Q", "W_V")
    """Matrices LoRA adapts (TARGET_SHAPES names)."""
    steps: int = 200
    """Optimizer steps."""
    lr: float | None = None
    """Peak learning rate; None = the base preset's for LoRA, a fifth of it for full."""
    seed: int = 0
    """Seeds the adapter init and batch sampling."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda'."""
    n_checkpoints: int = 8
    """Log-spaced saved steps (plus step 0 and the last)."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise JobError(f"{path} is unreadable ({err})") from None
    if not isinstance(raw, dict):
        raise JobError(f"{path} must hold a JSON object")
    return raw


def base_config(checkpoint: Path) -> dict[str, Any]:
    """The base's config.json, checked to be a transformer with a tokenizer (torch-free)."""
    if not checkpoint.is_dir():
        raise JobError(f"no checkpoint directory at {checkpoint} (--checkpoint)")
    if not (checkpoint / "config.json").is_file():
        raise JobError(f"{checkpoint} has no config.json: not a checkpoint directory (--checkpoint)")
    raw = _read_json(checkpoint / "config.json")
    if raw.get("kind", "transformer") != "transformer":
        raise JobError(f"{checkpoint} holds a {raw['kind']!r} checkpoint; fine-tune a transformer")
    if not raw.get("tokenizer"):
        raise JobError(f"{checkpoint} has no tokenizer: the new corpus cannot be encoded for it")
    if not raw.get("n_layers"):
        raise JobError(f"{checkpoint} is a 0-layer model: it has no blocks to fine-tune")
    return raw


def check(cfg: FinetuneConfig) -> None:
    """Every argument a user can get wrong, checked without torch; raises JobError."""
    if cfg.method not in METHODS:
        raise JobError(f"unknown --method {cfg.method!r}; choose lora or full")
    raw = base_config(Path(cfg.checkpoint))
    if cfg.corpus not in CORPUS_NAMES and not Path(cfg.corpus).expanduser().exists():
        raise JobError(f"unknown corpus {cfg.corpus!r}: use one of {', '.join(CORPUS_NAMES)}, "
                       "or a path to a text file or directory")
    if not 1 <= cfg.steps <= 10**9:
        raise JobError(f"--steps {cfg.steps}: give a number of optimizer steps from 1 to 10^9")
    if cfg.lr is not None and not (math.isfinite(cfg.lr) and cfg.lr >= 0):
        raise JobError(f"--lr {cfg.lr}: give a learning rate >= 0")
    if not 0 <= cfg.seed < 2**32:
        raise JobError(f"--seed {cfg.seed}: use a whole number from 0 to {2**32 - 1}")
    if cfg.method == "lora":
        _check_lora(cfg, raw)


def _check_lora(cfg: FinetuneConfig, raw: dict[str, Any]) -> None:
    unknown = [t for t in cfg.targets if t not in TARGET_SHAPES]
    if unknown or not cfg.targets:
        raise JobError(f"unknown --targets {', '.join(unknown) or '(none)'}; choose from "
                       f"{', '.join(TARGET_SHAPES)}")
    if raw.get("d_mlp") is None and {"W_in", "W_out"} & set(cfg.targets):
        raise JobError("--targets W_in/W_out: the base is attention-only and has no MLP")
    for target in cfg.targets:
        dims = [raw.get(name) for name in TARGET_SHAPES[target]]
        if not all(isinstance(d, int) for d in dims):
            raise JobError(f"{cfg.checkpoint}/config.json lacks {TARGET_SHAPES[target]} for {target}")
        if not 1 <= cfg.rank <= min(dims):
            raise JobError(f"--rank {cfg.rank}: {target} matrices are {dims[0]} x {dims[1]}, "
                           f"so use a rank from 1 to {min(dims)}")
    if cfg.alpha is not None and not (math.isfinite(cfg.alpha) and cfg.alpha > 0):
        raise JobError(f"--alpha {cfg.alpha}: give a positive number")


def training_record(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint's training.json ({} for a checkpoint trained elsewhere)."""
    path = Path(checkpoint) / "training.json"
    return _read_json(path) if path.is_file() else {}


def base_record(checkpoint: Path) -> dict[str, Any]:
    """The summary of a checkpoint's training.json ({} when it has none)."""
    return training_record(checkpoint).get("summary", {})


def encode_corpus(corpus: str, tokenizer: Any, max_chars: int | None, *,
                  trained_on: str | None = None) -> tuple[Any, Any]:
    """(train, val) token streams of ``corpus`` under ``tokenizer`` (the base's).

    Uses the cached streams (``jobs.data.prepare_data``) when preparing the corpus builds
    the same tokenizer (a fixed vocabulary, or ``corpus`` is the one the base was
    ``trained_on``); else (a compact vocabulary built from another corpus) encodes the
    text with this tokenizer.
    """
    from interp_core.corpora import encode_documents, load_corpus  # noqa: PLC0415
    from jobs.data import VAL_FRACTION, prepare_data  # noqa: PLC0415

    spec = tokenizer.to_config()
    build = {"name": spec["name"], **({"k": spec["k"]} if spec["name"] == "gpt2-compact" else {})}
    if spec["name"] not in ("gpt2-compact", "char"):
        data = prepare_data(corpus, build, max_chars=max_chars)
        return data.train, data.val
    data = prepare_data(corpus, build, max_chars=max_chars) if corpus == trained_on else None
    if data is not None and data.tokenizer.to_config() == spec:
        return data.train, data.val
    split = load_corpus(corpus, max_chars=max_chars).split(VAL_FRACTION)
    return encode_documents(split.train, tokenizer), encode_documents(split.val, tokenizer)


def variant_label(record: dict[str, Any]) -> str:
    """Short name of a fine-tune variant: 'lora r=4' or 'full'."""
    return f"lora r={record['rank']}" if record["method"] == "lora" else "full"


def finetune(cfg: FinetuneConfig, *, progress: bool = True, batch_size: int | None = None,
             seq_len: int | None = None) -> Path:
    """Fine-tune ``cfg.checkpoint`` on ``cfg.corpus`` into ``cfg.out``; returns it.

    Args:
        cfg: what to fine-tune, how.
        progress: show a tqdm bar.
        batch_size, seq_len: override the base preset's (tests use smaller ones).
    """
    check(cfg)
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from interp_core import lora  # noqa: PLC0415
    from interp_core.models.checkpoint import load_transformer, save_checkpoint  # noqa: PLC0415
    from interp_core.tokenizers import load_tokenizer  # noqa: PLC0415
    from interp_core.training import OptimConfig, checkpoint_steps, fit, sample_batch  # noqa: PLC0415
    from jobs._common import provenance, resolve_device, seed_everything, use_all_cores  # noqa: PLC0415

    base_dir, out = Path(cfg.checkpoint).resolve(), Path(cfg.out)
    raw, summary = base_config(base_dir), base_record(base_dir)
    preset = PRESETS.get(summary.get("preset", "tiny"), PRESETS["tiny"])
    use_all_cores()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    tok = load_tokenizer(raw["tokenizer"], checkpoint_dir=base_dir)
    orig_corpus = summary.get("data", {}).get("corpus", "stdlib")
    max_chars = summary.get("data", {}).get("max_chars", preset.max_chars)
    train, val = encode_corpus(cfg.corpus, tok, max_chars)
    _, orig_val = encode_corpus(orig_corpus, tok, max_chars, trained_on=orig_corpus)
    base = load_transformer(base_dir)
    seq_len = min(seq_len or preset.seq_len, base.cfg.n_ctx)
    sampling = {"batch": batch_size or preset.batch_size, "seq_len": seq_len, "bos_id": tok.bos_id}
    vals = {key: [sample_batch(stream, step=i, seed=10_000 + cfg.seed, **sampling) for i in range(VAL_BATCHES)]
            for key, stream in (("val_loss", val), (ORIG_VAL, orig_val))}  # fmt: skip
    spec = None
    if cfg.method == "lora":
        spec = lora.LoraSpec(rank=cfg.rank, alpha=cfg.alpha or 2.0 * cfg.rank, targets=cfg.targets)
        model = lora.add_lora(load_transformer(base_dir), spec, seed=cfg.seed)
    else:
        model = load_transformer(base_dir)
    model = model.to(device)
    lr = cfg.lr if cfg.lr is not None else (preset.lr if cfg.method == "lora" else preset.lr / 5)
    optim = OptimConfig(steps=cfg.steps, lr=lr, warmup_frac=preset.warmup_frac,
                        weight_decay=preset.weight_decay, grad_clip=preset.grad_clip)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    tok.save(out)

    def loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        return model(tokens, return_type="loss")

    def evaluate(model: torch.nn.Module, step: int) -> dict[str, float]:
        return {k: float(np.mean([loss(model, t.to(device)).item() for t in batches]))
                for k, batches in vals.items()}  # fmt: skip

    def save(model: torch.nn.Module, step: int) -> dict[str, Any]:
        path = out / "steps" / f"step_{step:06d}"
        if spec is not None:
            lora.save_adapter(lora.adapter_from_model(model, spec), path, base=base_dir)
        else:
            save_checkpoint(model, path)
        return {"step": step, "tokens_seen": step * sampling["batch"] * seq_len,
                "path": str(path.relative_to(out))}  # fmt: skip

    state = fit(model, optim,
                batch_fn=lambda step: sample_batch(train, step=step, seed=cfg.seed, **sampling),
                loss_fn=loss, eval_fn=evaluate, eval_every=max(1, cfg.steps // 4),
                checkpoint_at=checkpoint_steps(cfg.steps, cfg.n_checkpoints), save_fn=save,
                resume_dir=out / "resume", progress=progress,
                desc=f"finetune {cfg.method}")  # fmt: skip
    record = {"base": str(base_dir), "base_corpus": orig_corpus, "corpus": cfg.corpus,
              "method": cfg.method, "steps": cfg.steps, "lr": lr, "seed": cfg.seed,
              **(spec.to_dict() if spec else {}), "adapter": "adapter" if spec else None}  # fmt: skip
    if spec is not None:
        adapter = lora.adapter_from_model(model, spec)
        lora.save_adapter(adapter, out / "adapter", base=base_dir)
        model = lora.merge(base.to(device), adapter)
    save_checkpoint(model, out)
    (out / FINETUNE_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    _write_record(out, cfg, summary, state, record, sampling, provenance(device, cfg.seed))
    shutil.rmtree(out / "resume", ignore_errors=True)
    last = {k: v[-1] for k, v in state.evals.items()}
    print(f"finetune {variant_label(record)} on {cfg.corpus}: {cfg.steps} steps, val loss "
          f"{last['val_loss']:.3f} ({orig_corpus}: {last[ORIG_VAL]:.3f}), "
          f"{state.wall_time:.1f}s -> {out}")
    return out


def _write_record(out: Path, cfg: FinetuneConfig, base_summary: dict[str, Any], state: Any,
                  record: dict[str, Any], sampling: dict[str, int], prov: dict[str, Any]) -> None:
    """``training.json`` of the fine-tune: summary, curve, evals (both corpora), saved steps."""
    per_step = sampling["batch"] * sampling["seq_len"]
    evals = {k: list(v) for k, v in state.evals.items()}
    evals["tokens_seen"] = [s * per_step for s in evals.get("step", [])]
    curve = {k: list(v) for k, v in state.curve.items()}
    curve["tokens_seen"] = [s * per_step for s in curve["step"]]
    val_loss = evals["val_loss"][-1]
    summary = {
        "rung": base_summary.get("rung", Path(cfg.checkpoint).name),
        "preset": base_summary.get("preset", "tiny"), "steps": cfg.steps,
        "tokens_seen": cfg.steps * per_step, "batch_size": sampling["batch"],
        "seq_len": sampling["seq_len"], "val_loss": val_loss,
        "perplexity": math.exp(min(val_loss, 50.0)), "wall_time_s": state.wall_time,
        "lr": record["lr"], "seed": cfg.seed, "finetune": record,
        "data": {"corpus": cfg.corpus,
                 "max_chars": base_summary.get("data", {}).get("max_chars")},
    }  # fmt: skip
    text = json.dumps({"summary": summary, "curve": curve, "evals": evals,
                       "checkpoints": state.checkpoints, "provenance": prov}, indent=1)  # fmt: skip
    (out / "training.json.tmp").write_text(text)
    (out / "training.json.tmp").replace(out / "training.json")


def finetune_record(checkpoint: Path) -> dict[str, Any] | None:
    """A checkpoint's fine-tune record (``finetune.json``), or None when it is no fine-tune."""
    path = Path(checkpoint) / FINETUNE_FILE
    return _read_json(path) if path.is_file() else None


def sibling_finetunes(checkpoint: Path) -> list[Path]:
    """``checkpoint`` and every fine-tune beside it with the same base and corpus: itself
    first, then LoRA by rank, then full fine-tunes."""
    own = finetune_record(checkpoint)
    if own is None:
        return []
    same = []
    for path in sorted(Path(checkpoint).parent.iterdir()):
        record = finetune_record(path) if path.is_dir() and path.resolve() != Path(checkpoint).resolve() else None
        if record and record["base"] == own["base"] and record["corpus"] == own["corpus"]:
            same.append((record["method"] != "lora", record.get("rank", 0), path.name, path))
    return [Path(checkpoint), *(path for *_, path in sorted(same))]


LADDER_VARIANTS: tuple[dict[str, Any], ...] = (
    {"method": "lora", "rank": 2}, {"method": "lora", "rank": 8}, {"method": "full"},
)
"""What the ladder fine-tunes after its rungs: LoRA at two ranks and full fine-tuning."""
LADDER_STEPS = {"tiny": 12, "cpu": 400, "gpu": 2000}
"""Optimizer steps of each ladder fine-tune per preset (seconds on tiny, where batches are
also half the preset's)."""


def ladder_finetunes(base: Path, ckpt_root: Path, store_root: Path | str, run_prefix: str, *,
                     device: str = "auto", seed: int = 0, progress: bool = True) -> list[Path]:
    """Fine-tune the ladder's ``base`` in every LADDER_VARIANTS way on the other corpus
    (shakespeare, or stdlib for a base trained on shakespeare), side by side under
    ``<ckpt_root>/<base>-ft-<corpus>/``, and analyse each (``finetune`` step and its needs)
    into run ``<run_prefix>-ft-<variant>``; complete runs are kept. Returns the run paths."""
    from jobs.analyze_model import AnalyzeConfig, analyze  # noqa: PLC0415
    from store import StoreError, location, open_store  # noqa: PLC0415

    summary = base_record(base)
    corpus = "stdlib" if summary.get("data", {}).get("corpus") == "shakespeare" else "shakespeare"
    preset = summary.get("preset", "tiny")
    steps = LADDER_STEPS.get(preset, LADDER_STEPS["tiny"])
    batch = PRESETS["tiny"].batch_size // 2 if preset == "tiny" else None
    try:
        complete = set(open_store(store_root).runs())
    except StoreError:
        complete = set()
    paths = []
    for variant in LADDER_VARIANTS:
        name = variant["method"] + (f"-r{variant['rank']}" if "rank" in variant else "")
        out, rid = ckpt_root / f"{base.name}-ft-{corpus}" / name, f"{run_prefix}-ft-{name}"
        if not (out / FINETUNE_FILE).is_file():
            finetune(FinetuneConfig(checkpoint=base, corpus=corpus, out=out, steps=steps, seed=seed,
                                    device=device, **variant), progress=progress, batch_size=batch)  # fmt: skip
        paths.append((out, rid))
    return [location(store_root) / f"{rid}.zarr" if rid in complete else
            analyze(AnalyzeConfig(checkpoint=out, store_root=store_root, run_id=rid, device=device,
                                  seed=seed, overwrite=True, steps=("finetune",)), progress=progress)
            for out, rid in paths]  # fmt: skip
