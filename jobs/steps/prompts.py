"""Analysis step: attention on the user's own prompts (``prompts/*``, ``--prompts FILE``).

The file (``--prompts FILE``, the same as ``--set prompts.file=FILE``) is UTF-8 text with one
prompt per line (empty lines are ignored), or, when it ends in ``.json``, a JSON list of
strings (a prompt may then span lines). Each prompt is tokenized with the checkpoint's
tokenizer, BOS first; one longer than the model's ``n_ctx`` is an error naming its line. The
file is checked (``check``) before any model is built, so a bad one costs nothing. On a
complete run, ``python -m jobs analyze --checkpoint DIR --prompts FILE`` adds the prompts
without redoing anything else.

Writes (declared in ``store/schema.py``):

- ``prompts/text`` [user_prompt]: the prompts as written;
- ``prompts/tokens`` [user_prompt, user_pos] int32, padded with -1 past each prompt's
  ``prompts/length`` [user_prompt] (BOS included);
- ``prompts/pattern`` and ``prompts/norm_pattern`` [layer, head, user_prompt, user_query_pos,
  user_key_pos] float16: attention weights and Kobayashi et al.'s norm-based maps
  ``alpha_ij ||(x_j W_V + b_V) W_O||`` (as ``attn/pattern`` and ``attn/norm_pattern``), each
  prompt run on its own; zeros past each prompt's length.

Without a file, or for a 0-layer model (no attention), the step is skipped.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --prompts my_prompts.txt
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from interp_core.analysis import kobayashi_norms, norm_hook_names
from interp_core.config import ModelConfig
from interp_core.tokenizers import Tokenizer
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from jobs.steps import Skipped
from store import RunWriter, hook_names

WRITES = ("prompts/",)
NEEDS = ("vocab",)

FORMAT_HELP = "one prompt per line of a UTF-8 text file, or a .json file holding a list of strings"
"""How a prompts file is written (quoted in error messages)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The user's prompts file and how many prompts it may hold."""

    file: Path | None = None
    """File of the user's own prompts (one per line, or a .json list of strings); None skips."""
    max_prompts: int = 64
    """Most prompts one file may hold (each stores layer x head x pos^2 attention weights twice)."""

    def __post_init__(self) -> None:
        if self.max_prompts < 1:
            raise ValueError(f"max_prompts={self.max_prompts}: must be at least 1")


def parse_prompts(text: str, *, json_list: bool, source: str) -> list[tuple[str, str]]:
    """The prompts of a file's text as (where, prompt) pairs, e.g. ("line 3", "The cat").

    Args:
        text: The file's contents.
        json_list: True for a JSON list of strings, False for one prompt per line.
        source: The file's name, for error messages.

    Raises:
        JobError: invalid JSON, not a list of strings, or no prompts at all.

    Examples:
        >>> parse_prompts("a b\\n\\nc\\n", json_list=False, source="p.txt")
        [('line 1', 'a b'), ('line 3', 'c')]
    """
    if json_list:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise JobError(
                f"{source}: not valid JSON ({err.msg} at line {err.lineno}); write {FORMAT_HELP}"
            ) from None
        if not isinstance(raw, list):
            raise JobError(f"{source}: expected a JSON list of strings, got a {type(raw).__name__}")
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                raise JobError(
                    f"{source}, item {i + 1}: expected a string, got "
                    f"{type(item).__name__} {json.dumps(item)[:40]}"
                )
        prompts = [(f"item {i + 1}", item) for i, item in enumerate(raw) if item.strip()]
    else:
        prompts = [
            (f"line {i + 1}", line) for i, line in enumerate(text.splitlines()) if line.strip()
        ]
    if not prompts:
        raise JobError(f"{source} holds no prompts; write {FORMAT_HELP} (empty lines are ignored)")
    return prompts


def read_prompts(path: Path) -> list[tuple[str, str]]:
    """Read a prompts file (see :func:`parse_prompts`); ``.json`` files are JSON lists.

    Raises:
        JobError: the file is missing, not UTF-8, or holds no prompts.
    """
    path = Path(path)
    if not path.is_file():
        raise JobError(f"--prompts {path}: no such file ({FORMAT_HELP})")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise JobError(
            f"{path} is not UTF-8 text (byte {err.start} cannot be decoded); save it as UTF-8"
        ) from None
    return parse_prompts(text, json_list=path.suffix.lower() == ".json", source=str(path))


def encode_prompts(
    prompts: list[tuple[str, str]],
    tokenizer: Tokenizer | None,
    n_ctx: int,
    *,
    source: str,
    max_prompts: int,
) -> list[list[int]]:
    """Token ids of each prompt, BOS first.

    Raises:
        JobError: no tokenizer, more than ``max_prompts`` prompts, or a prompt longer than
            ``n_ctx`` tokens (the message names its line).
    """
    if tokenizer is None:
        raise JobError(
            f"--prompts {source}: the checkpoint has no tokenizer, so text prompts "
            "cannot be encoded"
        )
    if len(prompts) > max_prompts:
        raise JobError(
            f"{source} holds {len(prompts)} prompts, more than prompts.max_prompts="
            f"{max_prompts}; split the file or raise it with --set prompts.max_prompts=N"
        )
    encoded = []
    for where, text in prompts:
        ids = [tokenizer.bos_id, *tokenizer.encode(text)]
        if len(ids) > n_ctx:
            raise JobError(
                f"{source}, {where}: the prompt is {len(ids)} tokens with BOS, more "
                f"than the model's n_ctx={n_ctx}; shorten it or split it in two"
            )
        encoded.append(ids)
    return encoded


def load_prompts(
    cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None
) -> tuple[list[str], list[list[int]]] | None:
    """The prompts' texts and token ids, checked against the model; None without a file."""
    if cfg.file is None:
        return None
    prompts = read_prompts(cfg.file)
    ids = encode_prompts(
        prompts, tokenizer, model_cfg.n_ctx, source=str(cfg.file), max_prompts=cfg.max_prompts
    )
    return [text for _, text in prompts], ids


def check(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> None:
    """Reject a bad prompts file before any run is created or model built."""
    load_prompts(cfg, model_cfg, tokenizer)


def padded(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """([prompt, max length] int32 padded with -1, [prompt] lengths)."""
    lengths = np.asarray([len(i) for i in ids], dtype=np.int32)
    tokens = np.full((len(ids), int(lengths.max())), -1, dtype=np.int32)
    for row, prompt in enumerate(ids):
        tokens[row, : len(prompt)] = prompt
    return tokens, lengths


@torch.no_grad()
def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | None:
    """Write the user's prompts and the attention on each of them."""
    loaded = load_prompts(cfg, ctx.cfg, ctx.tokenizer)
    if loaded is None:
        return Skipped("no prompts file was given (python -m jobs analyze --prompts FILE)")
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention to show on the user's prompts")
    texts, ids = loaded
    tokens, lengths = padded(ids)
    L, H = ctx.cfg.n_layers, ctx.cfg.n_heads
    P, T = tokens.shape
    model = ctx.model if ctx.device.type == "cpu" else copy.deepcopy(ctx.model).cpu()
    pattern_names = [hook_names.attn(layer, "pattern") for layer in range(L)]
    wanted = set(pattern_names).union(*(norm_hook_names(model, layer) for layer in range(L)))
    sizes = {"layer": L, "head": H, "user_prompt": P, "user_query_pos": T, "user_key_pos": T}
    padding = "0 past each prompt's prompts/length (queries and keys)"
    writer.array(
        "prompts/pattern", sizes=sizes, attrs={"padding": padding, "source": str(cfg.file)}
    )
    writer.array(
        "prompts/norm_pattern",
        sizes=sizes,
        attrs={
            "padding": padding,
            "definition": "alpha_ij * ||(x_j W_V + b_V) W_O|| per head (unfolded b_V)",
        },
    )
    for row, prompt in enumerate(ids):
        n = len(prompt)
        cache = ctx.cache(
            torch.tensor([prompt], dtype=torch.long), names_filter=lambda h: h in wanted
        )
        weights = np.zeros((L, H, 1, T, T), dtype=np.float16)
        norms = np.zeros_like(weights)
        for layer in range(L):
            weights[layer, :, 0, :n, :n] = cache[pattern_names[layer]][0].numpy()  # [head, q, k]
            norms[layer, :, 0, :n, :n] = kobayashi_norms(cache, layer, model=model)[0].numpy()
        writer.write_block("prompts/pattern", weights, user_prompt=row)
        writer.write_block("prompts/norm_pattern", norms, user_prompt=row)
    writer.mark_complete("prompts/pattern")
    writer.mark_complete("prompts/norm_pattern")
    writer.write("prompts/text", np.asarray(texts, dtype=object), source=str(cfg.file))
    writer.write("prompts/tokens", tokens, padding=-1, bos="position 0")
    writer.write("prompts/length", lengths)
    return None
