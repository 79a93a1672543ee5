"""Fixture plugin: MLP neuron arrays for runs with an MLP (``gpt-1l``), as the activations
and neurons steps write them: ``acts/mlp_post`` [layer, prompt, pos, d_mlp] and
``neurons/*`` (fire rate, dead, saturated, histogram, top contexts, logit effects), plus
``weights/W_out`` so the page can compute the bottom logit effects.

Neuron 3 of layer 0 fires hardest on every occurrence of :func:`favourite_token` (the
token at prompt 1, position 3), so its contexts and its activation colouring are
predictable.
"""

from __future__ import annotations

import numpy as np

TOP_K, LOGIT_K, BINS = 3, 5, 12


def add_arrays(writer, info) -> None:
    """Write the neuron arrays of one run with an MLP (others get nothing)."""
    if not info.d_mlp or not info.n_layers:
        return
    rng = np.random.default_rng(info.seed + 300)
    L, P, T, N = info.n_layers, info.n_prompts, info.n_pos, info.d_mlp
    tokens = np.asarray(zarr_tokens(writer))  # [prompt, pos]
    pre = rng.normal(size=(L, P, T, N))
    pre[:, :, :, 3] += 6.0 * (tokens == favourite_token(tokens))
    pre[:, :, :, 5] = -5.0  # a dead, saturated neuron
    post = pre * 0.5 * (1 + np.tanh(0.8 * pre))  # gelu-like
    writer.write("acts/mlp_post", post.astype(np.float16))
    fire = (pre > 0).mean(axis=(1, 2))  # [layer, d_mlp]
    writer.write("neurons/fire_rate", fire.astype(np.float32))
    writer.write("neurons/inactive_frac", (pre < -3).mean(axis=(1, 2)).astype(np.float32))
    writer.write("neurons/dead", (fire == 0).astype(np.int32))
    writer.write("neurons/saturated", ((pre < -3).mean(axis=(1, 2)) > 0.99).astype(np.int32),
                 firing="pre > 0", saturation="pre < -3 on over 99% of tokens (flat negative "
                                              "regime)")
    edges = np.linspace(post.min(), post.max(), BINS + 1)
    counts = np.stack([np.histogram(post[l], bins=edges)[0] for l in range(L)])
    writer.write("neurons/hist_counts", counts.astype(np.float32))
    writer.write("neurons/hist_edges", np.tile(edges, (L, 1)).astype(np.float32))
    best_pos = post.argmax(axis=2)  # [layer, prompt, d_mlp]
    best_act = post.max(axis=2)
    order = np.argsort(-best_act, axis=1)[:, :TOP_K]  # [layer, topk, d_mlp]
    top_prompt = np.transpose(order, (0, 2, 1))  # [layer, d_mlp, topk]
    top_pos = np.take_along_axis(np.transpose(best_pos, (0, 2, 1)), top_prompt, axis=2)
    top_act = np.take_along_axis(np.transpose(best_act, (0, 2, 1)), top_prompt, axis=2)
    writer.write("neurons/top_prompt", top_prompt.astype(np.int32))
    writer.write("neurons/top_pos", top_pos.astype(np.int32))
    writer.write("neurons/top_act", top_act.astype(np.float32))
    W_out = rng.normal(size=(L, N, info.d_model)).astype(np.float32)
    writer.write("weights/W_out", W_out)
    W_U = np.asarray(zarr_array(writer, "weights/W_U"))  # [d_model, d_vocab]
    effect = W_out @ W_U  # [layer, d_mlp, d_vocab]
    ids = np.argsort(-effect, axis=-1)[..., :LOGIT_K]
    note = "W_out[n] diag(ln_final.w) W_U: direct path only (fixture: no LN)"
    writer.write("neurons/logit_top_ids", ids.astype(np.int32), definition=note)
    writer.write("neurons/logit_top_values",
                 np.take_along_axis(effect, ids, axis=-1).astype(np.float32), definition=note)


def favourite_token(tokens: np.ndarray) -> int:
    """The token id neuron 3 fires on: the one at prompt 1, position 3."""
    return int(tokens[1, 3])


def zarr_array(writer, name: str) -> np.ndarray:
    """An array this writer already wrote."""
    import zarr

    return np.asarray(zarr.open_group(str(writer.path), mode="r")[name][...])


def zarr_tokens(writer) -> np.ndarray:
    """The run's evaluation tokens [prompt, pos]."""
    return zarr_array(writer, "tokens")
