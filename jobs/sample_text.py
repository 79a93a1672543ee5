"""``python -m jobs sample``: continue a prompt with a checkpoint (docs/methods.md §13).

Everything a user can get wrong (the checkpoint directory, the sampling arguments, a prompt
that is empty, longer than the context or holds a token the model does not know) is
checked by ``prepare``, which imports neither torch nor the model; only ``sample`` does.

Examples:
    python -m jobs sample --checkpoint checkpoints/tiny/gpt-4l --prompt "def main("
    python -m jobs sample --checkpoint checkpoints/tiny/gpt-4l --prompt "import os" \\
        --max-new-tokens 40 --temperature 0.8 --top-p 0.9 --seed 1
    python -m jobs sample --checkpoint DIR --prompt-ids "0 17 23" --temperature 0
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from interp_core.config import ConfigError, ModelConfig
from interp_core.tokenizers import Tokenizer, TokenizerError, load_tokenizer
from jobs.errors import JobError


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """One generation from one checkpoint."""

    checkpoint: Path
    """Checkpoint directory (config.json + model.safetensors)."""
    prompt: str | None = None
    """Prompt text (BOS is prepended); needs the checkpoint's tokenizer."""
    prompt_ids: str | None = None
    """Alternatively the prompt as whitespace-separated token ids (BOS not added)."""
    max_new_tokens: int = 40
    """Tokens to generate."""
    temperature: float = 1.0
    """Softmax temperature; 0 = greedy."""
    top_k: int | None = None
    """Keep only the k most likely tokens (None: all)."""
    top_p: float | None = None
    """Keep the smallest most-likely set of probability >= p (None: all)."""
    seed: int | None = None
    """Seed of the sampling generator (None: not reproducible)."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda'."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A checked request: the model's config, its tokenizer (if any) and the prompt's ids."""

    cfg: SampleConfig
    model_cfg: ModelConfig
    tokenizer: Tokenizer | None
    ids: list[int]


def _check_arguments(cfg: SampleConfig) -> None:
    if not cfg.temperature >= 0:
        raise JobError(f"--temperature {cfg.temperature}: must be >= 0 (0 = greedy)")
    if cfg.top_k is not None and cfg.top_k < 1:
        raise JobError(f"--top-k {cfg.top_k}: must be at least 1 (leave it out for no top-k)")
    if cfg.top_p is not None and not 0 < cfg.top_p <= 1:
        raise JobError(f"--top-p {cfg.top_p}: must be in (0, 1] (leave it out for no top-p)")
    if cfg.max_new_tokens < 1:
        raise JobError(f"--max-new-tokens {cfg.max_new_tokens}: must be at least 1")
    if cfg.seed is not None and not 0 <= cfg.seed < 2**63:
        raise JobError(f"--seed {cfg.seed}: use a whole number >= 0")
    if (cfg.prompt is None) == (cfg.prompt_ids is None):
        raise JobError("give exactly one of --prompt TEXT or --prompt-ids 'ID ID ...'")


def _model_config(checkpoint: Path) -> ModelConfig:
    """The checkpoint's ModelConfig, read from config.json without torch."""
    if not checkpoint.is_dir():
        raise JobError(f"no checkpoint directory at {checkpoint} (--checkpoint)")
    path = checkpoint / "config.json"
    if not path.is_file():
        raise JobError(f"{checkpoint} has no config.json: not a checkpoint directory (--checkpoint)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(raw, dict) and raw.get("kind", "transformer") != "transformer":
            raise JobError(f"{checkpoint} holds a {raw['kind']!r} checkpoint; sampling needs a transformer")
        return ModelConfig.from_dict(raw if not isinstance(raw, dict) else
                                     {k: v for k, v in raw.items() if k != "kind"})  # fmt: skip
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise JobError(f"{path} is not valid JSON ({err})") from None
    except ConfigError as err:
        raise JobError(f"{path}: {err}") from None


def _prompt_ids(cfg: SampleConfig, model_cfg: ModelConfig, tok: Tokenizer | None) -> list[int]:
    if cfg.prompt_ids is not None:
        try:
            ids = [int(x) for x in cfg.prompt_ids.replace(",", " ").split()]
        except ValueError:
            raise JobError(f"--prompt-ids {cfg.prompt_ids!r}: give whole numbers separated by spaces") from None
        if not ids:
            raise JobError("--prompt-ids is empty; give at least one token id")
        bad = [i for i in ids if not 0 <= i < model_cfg.d_vocab]
        if bad:
            raise JobError(f"--prompt-ids: token id {bad[0]} is outside the vocabulary "
                           f"(0..{model_cfg.d_vocab - 1})")  # fmt: skip
        return ids
    if not cfg.prompt:
        raise JobError("--prompt is empty; give some text to continue")
    if tok is None:
        raise JobError(f"{cfg.checkpoint} has no tokenizer, so text cannot be encoded; "
                       "use --prompt-ids 'ID ID ...' instead")  # fmt: skip
    ids = tok.encode(cfg.prompt)
    unk = getattr(tok, "unk_id", None)
    if unk is not None and unk in ids:
        alphabet = getattr(tok, "alphabet", None)
        what = ", ".join(repr(c) for c in dict.fromkeys(cfg.prompt) if c not in alphabet) if alphabet else None
        raise JobError(f"--prompt: token {ids.index(unk) + 1} of the prompt "
                       f"{f'({what}) ' if what else ''}is not in the model's vocabulary (it would be "
                       "the unknown token); rephrase the prompt without it")  # fmt: skip
    return [tok.bos_id] + ids


def prepare(cfg: SampleConfig) -> Prepared:
    """Check every argument and the prompt against the checkpoint; imports no torch.

    Raises:
        JobError: one line saying what is wrong and what to do.
    """
    _check_arguments(cfg)
    model_cfg = _model_config(cfg.checkpoint)
    tok = None
    if model_cfg.tokenizer:
        try:
            tok = load_tokenizer(model_cfg.tokenizer, checkpoint_dir=cfg.checkpoint)
        except TokenizerError as err:
            raise JobError(f"cannot load the tokenizer of {cfg.checkpoint}: {err}") from None
    ids = _prompt_ids(cfg, model_cfg, tok)
    if len(ids) + cfg.max_new_tokens > model_cfg.n_ctx:
        raise JobError(f"the prompt is {len(ids)} tokens{' with BOS' * (cfg.prompt is not None)} and "
                       f"--max-new-tokens is {cfg.max_new_tokens}: more than the model's "
                       f"n_ctx={model_cfg.n_ctx}; shorten the prompt or ask for fewer tokens")  # fmt: skip
    return Prepared(cfg, model_cfg, tok, ids)


def sample(prepared: Prepared) -> str:
    """Load the model and generate; returns the continuation as text (ids without a tokenizer)."""
    import torch  # noqa: PLC0415

    from interp_core.models.checkpoint import CheckpointError, load_transformer  # noqa: PLC0415
    from interp_core.sampling import generate  # noqa: PLC0415
    from jobs._common import resolve_device  # noqa: PLC0415

    cfg = prepared.cfg
    device = resolve_device(cfg.device)
    try:
        model = load_transformer(cfg.checkpoint, device=device).eval()
    except CheckpointError as err:
        raise JobError(str(err)) from None
    prompt = torch.tensor([prepared.ids], dtype=torch.long, device=device)
    out = generate(model, prompt, cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                   top_p=cfg.top_p, seed=cfg.seed)  # fmt: skip
    new = out[0, len(prepared.ids) :].tolist()
    if prepared.tokenizer is None:
        return " ".join(map(str, new))
    return prepared.tokenizer.decode(new)
