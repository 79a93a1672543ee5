"""Fixture plugin: SAE arrays (``sae/*``, as jobs/steps/sae.py writes them) for runs with an
MLP (``gpt-1l``): 24 latents, 4 top contexts and 2 intervals x 2 samples each.

Latent :data:`CAT_LATENT` fires on every `` cat`` token (its top contexts all centre on it)
and pushes `` sat`` up most; latent :data:`DEAD_LATENT` never fires. Token strings include
the fixture vocabulary's ``<script>`` token, so escaping shows.
"""

from __future__ import annotations

import numpy as np

S, TOP, Q, PER, LEFT, RIGHT, BINS, LOGIT_K, NEAR = 24, 4, 2, 2, 3, 1, 5, 3, 3
CAT, SAT, SCRIPT = 5, 6, 1
"""Token ids of `` cat``, `` sat`` and ``<script>alert(1)</script>`` in the fixture vocabulary."""
CAT_LATENT, DEAD_LATENT = 2, 7
METRICS = {"l0": 3.5, "l1": 9.0, "fve": 0.87, "ce_clean": 3.0, "ce_sae": 3.1, "ce_zero": 4.0,
           "ce_mean": 3.6, "ce_rec": 0.9, "ce_rec_mean": 0.83, "dce": 0.1, "dead": 1 / S,
           "dense": 0.0, "l2_ratio": 0.95, "cos": 0.93, "rel_bias": 1.01, "tokens": 60.0}


def add_arrays(writer, info) -> None:
    """Write the SAE arrays of one run with an MLP (others get nothing)."""
    if not info.d_mlp or not info.n_layers:
        return
    rng = np.random.default_rng(info.seed + 900)
    V, ctx, n_ex = info.d_vocab, LEFT + RIGHT + 1, TOP + Q * PER
    writer.write("sae/metric", np.array(list(METRICS), dtype=object))
    writer.write("sae/metric_value", np.array(list(METRICS.values()), np.float32),
                 hook="blocks.0.hook_resid_pre", layer=0, architecture="topk", k=4)
    density = rng.uniform(0.001, 0.09, S).astype(np.float32)
    density[DEAD_LATENT] = 0.0
    max_act = rng.uniform(1, 5, S).astype(np.float32)
    max_act[CAT_LATENT], max_act[DEAD_LATENT] = 9.0, 0.0
    writer.write("sae/density", density)
    writer.write("sae/max_act", max_act)
    ids = rng.integers(4, V, size=(S, n_ex, ctx)).astype(np.int32)
    ids[:, 0, 0] = SCRIPT
    ids[:, :, 0][:, 1] = -1  # a context that starts at the window's first token
    ids[CAT_LATENT, :TOP, LEFT] = CAT
    acts = rng.uniform(0, 1, size=(S, n_ex, ctx)) * max_act[:, None, None]
    value = np.sort(rng.uniform(0.1, 1, size=(S, n_ex)), axis=1)[:, ::-1] * max_act[:, None]
    acts[:, :, LEFT] = value
    ids[DEAD_LATENT], acts[DEAD_LATENT], value[DEAD_LATENT] = -1, 0.0, np.nan
    writer.write("sae/top_token_ids", ids[:, :TOP, LEFT])
    writer.write("sae/example_ids", ids)
    writer.write("sae/example_acts", acts.astype(np.float16), activating_index=LEFT)
    writer.write("sae/example_value", value.astype(np.float32))
    groups = np.concatenate([np.full(TOP, -1), np.repeat(np.arange(Q), PER)])
    writer.write("sae/example_group", groups.astype(np.int8))
    edges = np.linspace(0, max_act, BINS + 1).T.astype(np.float32)  # [S, BINS + 1]
    writer.write("sae/hist_counts", rng.integers(0, 30, size=(S, BINS)).astype(np.float32))
    writer.write("sae/hist_edges", edges)
    effect = rng.normal(size=(S, V))
    effect[CAT_LATENT, SAT] = 10.0
    order = np.argsort(-effect, axis=1)
    logit_ids = np.concatenate([order[:, :LOGIT_K], order[:, ::-1][:, :LOGIT_K]], axis=1)
    writer.write("sae/logit_ids", logit_ids.astype(np.int32))
    writer.write("sae/logit_values", np.take_along_axis(effect, logit_ids, 1).astype(np.float32))
    writer.write("sae/neighbor_ids", ((np.arange(S)[:, None] + np.arange(1, NEAR + 1)) % S)
                 .astype(np.int32))  # fmt: skip
    writer.write("sae/neighbor_cos", np.tile([0.6, 0.5, 0.4], (S, 1)).astype(np.float32))
