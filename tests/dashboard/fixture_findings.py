"""Fixture plugin: what the jobs write for issue 9, for some runs only (others fall back).

- root attr ``findings`` (step -> [{"text", "kind", "refs"}]) on ``attn-only-2l`` (every
  step; the ``heads`` findings hold backticks, ``**``, ``$`` and ``<b>``, which must show
  literally), ``gpt-1l`` (a null patching finding) and ``bigram-0l`` (bigrams only);
  ``attn-only-1l`` has none, as older runs;
- ``patching[<exp>]["signal"]``: True on ``attn-only-2l``, False on ``gpt-1l`` (clean and
  corrupted logit differences within noise), absent on ``attn-only-1l``;
- user prompts (``prompts/*``) on ``attn-only-2l`` only.

``prompts/*`` are written through ``RunWriter.write`` once ``store/schema.py`` declares them;
until then with plain zarr, in the layout the data contract gives.
"""

from __future__ import annotations

import numpy as np
import zarr

from store import _zarr_io
from store.schema import is_declared

TRICKY = "Head 1.1 attends to `*the*` after **bold**, <b>html</b> and $x$ tokens."
"""A finding text full of markdown and HTML: the page must show it as typed."""
USER_PROMPTS = ["the cat sat on the mat", "def foo(x): return x + 1 `*$<b>`"]
"""Texts of the fixture's user prompts (``prompts/text``)."""
USER_IDS = [[0, 4, 5, 6, 7, 4, 8], [0, 15, 16, 17, 21, 18, 19, 20, 21, 22, 23]]
"""Their token ids (BOS first)."""
NULL_NOTE = "clean LD 0.52 and corrupted LD 0.50 differ by less than the noise (0.10)"
"""``signal_note`` of the experiment without signal (gpt-1l)."""

FINDINGS = {
    "attn-only-2l": {
        "training": [{"text": "Validation loss fell to 1.75 nats.", "kind": "result"}],
        "patterns": [{"text": "Patterns stored for 4 prompts.", "kind": "caveat"}],
        "heads": [{"text": TRICKY, "kind": "result", "refs": {"layer": 1, "head": 1}},
                  {"text": "No head is over the first_token threshold.", "kind": "null"},
                  {"text": "Scores come from 4 short prompts only.", "kind": "caveat"}],
        "circuits": [{"text": "Head 1.1 K-composes with 0.0.", "kind": "result",
                      "refs": {"layer": 1, "head": 1}}],
        "attribution": [{"text": "L1H1 writes most of the correct logit.", "kind": "result"}],
        "patching": [{"text": "Patching resid_pre at layer 1 restores the clean behaviour.",
                      "kind": "result", "refs": {"experiment": "induction"}}],
        "dynamics": [{"text": "Induction heads form between steps 8 and 32.", "kind": "result"}],
        "bigrams": [{"text": "The direct path agrees with the corpus on 50% of tokens.",
                     "kind": "result"}],
        "embeddings": [{"text": "Two components explain 40% of W_E.", "kind": "caveat"}],
    },
    "gpt-1l": {
        "patching": [{"text": "Nothing to explain: clean and corrupted are within noise.",
                      "kind": "null", "refs": {"experiment": "induction"}}],
        "neurons": [{"text": "Neuron L0N3 fires on one token.", "kind": "result",
                     "refs": {"layer": 0, "neuron": 3}}],
    },
    "bigram-0l": {"bigrams": [{"text": "A 0-layer model is its bigram table.",
                               "kind": "result"}]},
}
"""Root attr ``findings`` per run (runs not listed have none)."""
SIGNAL = {"attn-only-2l": True, "gpt-1l": False}
"""``patching[induction]["signal"]`` per run (runs not listed predate it)."""


def _write(writer, name: str, values: np.ndarray, dims: tuple[str, ...]) -> None:
    if is_declared(name):
        writer.write(name, values)
        return
    group = zarr.open_group(str(writer.path), mode="r+")
    with _zarr_io.quiet():
        arr = group.create_array(name, shape=values.shape,
                                 dtype=str if values.dtype == object else values.dtype,
                                 chunks=values.shape, dimension_names=dims,
                                 attributes={"complete": True}, overwrite=True)
        arr[...] = values


def _user_prompts(writer, info) -> None:
    rng = np.random.default_rng(info.seed + 200)
    n = max(len(ids) for ids in USER_IDS)
    tokens = np.full((len(USER_IDS), n), -1, dtype=np.int32)
    for i, ids in enumerate(USER_IDS):
        tokens[i, : len(ids)] = ids
    lengths = np.asarray([len(ids) for ids in USER_IDS], dtype=np.int32)
    L, H = info.n_layers, info.n_heads
    logits = rng.normal(scale=2.0, size=(L, H, len(USER_IDS), n, n))
    logits[..., np.triu_indices(n, k=1)[0], np.triu_indices(n, k=1)[1]] = -np.inf
    pattern = np.exp(logits - logits.max(-1, keepdims=True))
    pattern /= pattern.sum(-1, keepdims=True)
    for i, length in enumerate(lengths):  # padding rows and columns hold no attention
        pattern[:, :, i, length:, :] = 0
        pattern[:, :, i, :, length:] = 0
    pattern = pattern.astype(np.float16)
    _write(writer, "prompts/tokens", tokens, ("user_prompt", "user_pos"))
    _write(writer, "prompts/length", lengths, ("user_prompt",))
    _write(writer, "prompts/text", np.asarray(USER_PROMPTS, dtype=object), ("user_prompt",))
    dims = ("layer", "head", "user_prompt", "user_query_pos", "user_key_pos")
    _write(writer, "prompts/pattern", pattern, dims)
    _write(writer, "prompts/norm_pattern", pattern, dims)


def add_arrays(writer, info) -> None:
    """Findings, the patching signal and user prompts of the runs listed above."""
    if info.run_id in FINDINGS:
        writer.update_attrs(findings=FINDINGS[info.run_id])
    if info.run_id in SIGNAL:
        patching = dict(zarr.open_group(str(writer.path), mode="r").attrs.get("patching") or {})
        meta = dict(patching.get("induction") or {})
        signal = SIGNAL[info.run_id]
        meta.update(signal=signal, signal_rule="|clean LD - corrupted LD| > 0.10 (noise)",
                    signal_note=("clean LD 3.00 and corrupted LD 0.10 are clearly apart"
                                 if signal else NULL_NOTE))
        if not signal:
            meta.update(clean_logit_diff=0.52, corrupted_logit_diff=0.50)
        writer.update_attrs(patching={**patching, "induction": meta})
    if info.run_id == "attn-only-2l":
        _user_prompts(writer, info)
