"""Attribution / patching / neuron arrays for the dashboard fixture store, and a real store.

``add_arrays(writer, info)`` (called by tests/dashboard/conftest.py for every fixture run)
writes synthetic ``dla/*``, ``logit_lens/*``, ``neurons/resid_norm`` and, for runs with
layers, a ``patching/induction`` experiment, with the shapes the analysis steps write.

``build_real_store(root)`` runs the real analysis steps (jobs/steps/attribution, neurons,
patching) on two tiny models (a full GPT with MLPs and the hand-built induction circuit)
and is used by the page tests in this folder.
"""

from __future__ import annotations

import numpy as np

GRIDS = {"resid_pre": ("layer", "pos"), "attn_out": ("layer", "pos"), "z_head": ("layer", "head"),
         "z_head_pos": ("layer", "pos", "head"), "pattern_head": ("layer", "head"),
         "pattern_head_dest": ("layer", "head", "pos")}  # fmt: skip


def add_arrays(writer, info) -> None:
    rng = np.random.default_rng(info.seed + 100)
    L, H, P, T = info.n_layers, info.n_heads, info.n_prompts, info.n_pos
    labels = ["embed"] + [x for l in range(L) for x in [f"L{l}H{h}" for h in range(H)] + [f"L{l}_attn_bias"]]
    labels += (["ln_final_bias"] if L else []) + ["unembed_bias"]
    layers = [-1] + [l for l in range(L) for _ in range(H + 1)] + [L] * (2 if L else 1)
    writer.write("dla/component", np.asarray(labels, dtype=object))
    writer.write("dla/component_layer", np.asarray(layers, dtype=np.int32))
    dla = rng.normal(size=(len(labels), P, T)).astype(np.float32)
    dla[:, :, -1] = np.nan
    writer.write("dla/correct", dla, ln_mode="frozen")
    writer.write("dla/logit_diff", dla * 0.5, ln_mode="frozen")
    writer.write("dla/rival", rng.integers(0, info.d_vocab, size=(P, T)).astype(np.int32))
    k = 3
    writer.write("logit_lens/resid_label", np.asarray([f"{l}_pre" for l in range(L)] + ["final_post"], dtype=object))
    writer.write("logit_lens/top_ids", rng.integers(0, info.d_vocab, size=(L + 1, P, T, k)).astype(np.int32))
    writer.write("logit_lens/top_probs", np.sort(rng.uniform(size=(L + 1, P, T, k)), -1)[..., ::-1].astype(np.float32))
    for name in ("correct_rank", "correct_logprob", "kl_to_final"):
        dtype = np.int32 if name == "correct_rank" else np.float32
        writer.write(f"logit_lens/{name}", np.abs(rng.normal(size=(L + 1, P, T))).astype(dtype))
    writer.write("neurons/resid_norm", np.abs(rng.normal(size=(L + 1, T))).astype(np.float32))
    if not L:
        return
    group, n = "patching/induction", (T - 1) // 2
    tokens = rng.integers(4, info.d_vocab, size=(3, T)).astype(np.int32)
    tokens[0, 1:5] = [1, 2, 3, 2]  # <script>, &, newline
    writer.write(f"{group}/positions", np.arange(T, dtype=np.int32))
    writer.write(f"{group}/clean_tokens", tokens)
    writer.write(f"{group}/corrupted_tokens", tokens[::-1].copy())
    writer.write(f"{group}/answer", tokens[:, -1].copy())
    writer.write(f"{group}/wrong", tokens[:, n].copy())
    sizes = {"layer": L, "head": H, "pos": T}
    for name, axes in GRIDS.items():
        act = rng.normal(size=tuple(sizes[a] for a in axes)).astype(np.float32)
        writer.write(f"{group}/act_{name}", act, direction="denoise")
        writer.write(f"{group}/atp_{name}", np.stack([act * 0.9, -act]).astype(np.float32))
    writer.write(f"{group}/path_to_logits", rng.uniform(size=(L, H)).astype(np.float32))
    writer.write(f"{group}/path_to_next", rng.uniform(size=(L, H, H, 3)).astype(np.float32))
    writer.update_attrs(patching={"induction": {
        "what": "fixture", "metric": "normalised_logit_diff", "clean_logit_diff": 3.0,
        "corrupted_logit_diff": 0.1, "metric_pos": -2, "granularities": list(GRIDS)}})


def build_real_store(root) -> list[str]:
    """Run the real steps on two tiny models into ``root``; returns the run ids."""
    import torch

    from interp_core import ModelConfig, Transformer
    from interp_core.analysis import induction_circuit
    from interp_core.prompts import repeated_random_tokens
    from jobs.analysis_context import AnalysisContext
    from jobs.steps import attribution, neurons, patching
    from store import RunWriter

    vocab = ["<|BOS|>", "<script>alert(1)</script>", " &", "\n"] + [f"t{i}" for i in range(4, 24)]
    gpt = Transformer(ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32,
                                  d_vocab=24, n_ctx=40), seed=1).eval()  # fmt: skip
    models = {"gpt-2l": gpt, "attn-only-2l": induction_circuit(d_vocab=24, n_ctx=40)}
    for run_id, model in models.items():
        cfg = model.cfg
        tokens = torch.randint(1, 24, (5, 14), generator=torch.Generator().manual_seed(0))
        tokens[:, 0] = 0
        rrt = repeated_random_tokens(n=6, batch=3, pool=range(1, 24), bos_id=0, seed=0)
        ctx = AnalysisContext(run_id=run_id, model=model, device=torch.device("cpu"),
                              eval_tokens=tokens, rrt=rrt, bos_id=0, token_strs=vocab,
                              checkpoint_dir=root, batch_size=8)  # fmt: skip
        writer = RunWriter.create(root, run_id=run_id, attrs={
            "config": {"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "d_model": cfg.d_model,
                       "d_mlp": cfg.d_mlp, "d_vocab": cfg.d_vocab}, "rung": run_id, "n_params": 1000})
        writer.write("tokens", tokens.numpy().astype(np.int32))
        writer.write("vocab/token_str", np.asarray(vocab, dtype=object))
        for step in (attribution, neurons, patching):
            step.run(ctx, step.Config(), writer)
        writer.finalize()
    return list(models)
