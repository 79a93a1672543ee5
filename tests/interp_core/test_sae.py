"""interp_core/sae.py against docs/methods.md §9.7's sanity properties, hand computations,
TransformerLens splices and SAELens 6.54.12's own files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from interp_core import ModelConfig, load_checkpoint
from interp_core.sae import (SAE, ActivationBuffer, SAEConfig, export_saelens,
                             geometric_median, load_saelens, resid_activations, sae_metrics,
                             save_sae, train_sae)
from interp_core.sae_features import feature_data
from interp_core.training import OptimConfig
from tests.reference import random_model, transformer_lens_model

DATA = Path(__file__).parent / "data"
HOOK = "blocks.1.hook_resid_pre"
CFG = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=40, n_ctx=12)


def _tokens(n: int = 6, t: int = 12, seed: int = 0) -> torch.Tensor:
    tokens = torch.randint(1, CFG.d_vocab, (n, t), generator=torch.Generator().manual_seed(seed))
    tokens[:, 0] = 0
    return tokens


def _identity_sae(d: int) -> SAE:
    """S9.1: W_enc = [I, -I], W_dec = [I; -I], biases 0, so x̂ = ReLU(x) - ReLU(-x) = x."""
    sae = SAE(SAEConfig(d_in=d, d_sae=2 * d, architecture="standard", hook_name=HOOK))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.eval()


def _random_sae(arch: str, d: int = 16, S: int = 48, seed: int = 0) -> SAE:
    sae = SAE(SAEConfig(d_in=d, d_sae=S, architecture=arch, k=5, hook_name=HOOK), seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.4)
    return sae.eval()


def test_identity_sae_reconstructs_exactly_with_fve_and_ce_rec_one() -> None:
    model = random_model(CFG)
    sae = _identity_sae(CFG.d_model)
    x = torch.randn(7, CFG.d_model)
    torch.testing.assert_close(sae(x), x, rtol=0, atol=1e-6)
    tokens = _tokens()
    m = sae_metrics(sae, model, HOOK, tokens, batch_size=4)
    assert m["fve"] == pytest.approx(1.0, abs=1e-6)
    assert m["ce_rec"] == pytest.approx(1.0, abs=1e-5) and m["dce"] == pytest.approx(0, abs=1e-5)
    acts = resid_activations(model, HOOK, tokens)[:, 1:]
    assert m["l0"] == pytest.approx(float((acts != 0).sum(-1).float().mean()))  # d per token
    assert m["tokens"] == tokens.shape[0] * (tokens.shape[1] - 1)


def test_constant_output_sae_has_fve_zero_and_recovers_a_mean_ablation() -> None:
    """S9.2: W_dec = 0 and b_dec = the eval mean -> FVE 0 about the mean; CE_rec (mean) = 0."""
    model, tokens = random_model(CFG), _tokens()
    acts = resid_activations(model, HOOK, tokens)[:, 1:].reshape(-1, CFG.d_model)
    sae = _random_sae("standard")
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.b_dec.copy_(acts.double().mean(0).float())
    m = sae_metrics(sae, model, HOOK, tokens)
    assert m["fve"] == pytest.approx(0.0, abs=1e-5)
    assert m["ce_rec_mean"] == pytest.approx(0.0, abs=1e-4)
    assert m["ce_sae"] == pytest.approx(m["ce_mean"], abs=1e-5)


def test_metrics_match_a_hand_computation_and_transformer_lens_splices() -> None:
    model, tokens = random_model(CFG), _tokens()
    sae = _random_sae("standard")
    with torch.no_grad():
        sae.b_enc[:3] = -1e4  # never fire
        sae.b_enc[3:5] = 1e4  # fire on every token
    m = sae_metrics(sae, model, HOOK, tokens, batch_size=4)
    x = resid_activations(model, HOOK, tokens)[:, 1:].reshape(-1, CFG.d_model).double().numpy()
    with torch.no_grad():
        f = sae.encode(torch.from_numpy(x).float()).double().numpy()
        x_hat = sae.decode(torch.from_numpy(f).float()).double().numpy()
    fve = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert m["fve"] == pytest.approx(fve, rel=1e-5)
    assert m["l0"] == pytest.approx((f > 0).sum(1).mean())
    assert m["l1"] == pytest.approx(f.sum(1).mean(), rel=1e-5)
    density = (f > 0).mean(0)
    assert m["dead"] == pytest.approx((density == 0).mean())
    assert m["dense"] == pytest.approx((density > 0.1).mean()) and m["dead"] >= 3 / 48
    assert m["rel_bias"] == pytest.approx((x_hat**2).sum() / (x * x_hat).sum(), rel=1e-5)
    tl = transformer_lens_model(model)
    mean = torch.from_numpy(x.mean(0)).float()

    def spliced(replace) -> float:
        def hook(act, hook):
            act = act.clone()
            act[:, 1:] = replace(act[:, 1:])
            return act

        with torch.no_grad():
            return float(tl.run_with_hooks(tokens, return_type="loss", fwd_hooks=[(HOOK, hook)]))

    with torch.no_grad():
        clean = float(tl(tokens, return_type="loss"))
    ce_sae = spliced(lambda a: sae(a))
    ce_zero, ce_mean = spliced(torch.zeros_like), spliced(lambda a: mean.expand_as(a))
    assert m["ce_clean"] == pytest.approx(clean, rel=1e-5)
    assert m["ce_sae"] == pytest.approx(ce_sae, rel=1e-5)
    assert m["ce_zero"] == pytest.approx(ce_zero, rel=1e-5)
    assert m["ce_mean"] == pytest.approx(ce_mean, rel=1e-5)
    # A recovered fraction divides by ``base - clean``, which mean ablation of a random model
    # makes tiny: fp32 loss error (≈1e-5 relative) grows by |ratio| / |base - clean|, so the
    # tolerance is propagated from the losses' own tolerance rather than fixed.
    bases = (("ce_rec", "ce_zero", ce_zero), ("ce_rec_mean", "ce_mean", ce_mean))
    for key, base_key, base in bases:
        ratio, den, eps = (base - ce_sae) / (base - clean), base - clean, 1e-5 * clean
        assert m[key] == pytest.approx(ratio, abs=eps * (2 + 2 * abs(ratio)) / abs(den))
        own = (m[base_key] - m["ce_sae"]) / (m[base_key] - m["ce_clean"])
        assert m[key] == pytest.approx(own, rel=1e-9)
    assert m["dce"] == pytest.approx(ce_sae - clean, rel=1e-4)


def test_topk_keeps_exactly_k_latents() -> None:
    sae = _random_sae("topk")
    x = torch.randn(50, 16)
    assert ((sae.encode(x) > 0).sum(-1) <= 5).all()  # S9.3
    with torch.no_grad():
        sae.b_enc += 100.0  # every pre-activation positive: exactly k survive the ReLU
    f = sae.encode(x)
    assert ((f > 0).sum(-1) == 5).all()
    pre = sae.pre_acts(x)
    torch.testing.assert_close(f.sum(-1), pre.topk(5, dim=-1).values.sum(-1))


def test_folding_decoder_norms_leaves_outputs_unchanged() -> None:
    sae = _random_sae("standard")
    x = torch.randn(30, 16)
    before = sae(x)
    sae.fold_W_dec_norm()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(48))
    torch.testing.assert_close(sae(x), before, rtol=0, atol=1e-5)  # S9.4


def _superposition(n: int, m: int = 32, d: int = 16, p: float = 0.06, seed: int = 0):
    """Activations made of ``m`` unit ground-truth directions in ``d < m`` dims, each present
    with probability ``p`` at a magnitude in [0.5, 1.5]."""
    gen = torch.Generator().manual_seed(seed)
    truth = torch.nn.functional.normalize(torch.randn(m, d, generator=gen), dim=1)
    on = torch.rand(n, m, generator=gen) < p
    coef = on * (0.5 + torch.rand(n, m, generator=gen))
    return coef @ truth, truth


@pytest.mark.parametrize("arch, lr", [("topk", 1e-2), ("standard", 3e-3)])
def test_sae_recovers_ground_truth_features_in_superposition(arch: str, lr: float) -> None:
    """S9.5: >= 90% of the true directions have a decoder row at cosine > 0.9."""
    data, truth = _superposition(60_000)
    sae = SAE(SAEConfig(d_in=16, d_sae=64, architecture=arch, k=3, l1_coefficient=1.0,
                        dead_steps=50), seed=0)  # fmt: skip
    sae.init_from_data(data[:4096])
    steps, batch = 600, 256
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
    batches = lambda s: data[order[(s * batch) % (len(data) - batch):][:batch]]  # noqa: E731
    train_sae(sae, batches, OptimConfig(steps=steps, lr=lr, warmup_frac=0.02, min_lr_frac=0.1,
                                        weight_decay=0.0, betas=(0.9, 0.999)))
    rows = torch.nn.functional.normalize(sae.W_dec.detach(), dim=1)
    best = (truth @ rows.T).max(dim=1).values  # [m]
    assert (best > 0.9).float().mean() >= 0.9, best
    if arch == "topk":
        torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(64))


def test_aux_loss_reaches_dead_latents_only_when_some_are_dead() -> None:
    """AuxK changes the gradient of dead latents' encoder columns and of nothing alive."""
    x = torch.randn(64, 16)
    grads = {}
    for coef in (1 / 32, 0.0):
        sae = _random_sae("topk")  # eval mode: this batch does not reset the dead counters
        sae.cfg = dataclasses.replace(sae.cfg, aux_coefficient=coef)
        sae.since_fired[:10] = sae.cfg.dead_steps + 5  # latents 0..9 dead
        sae.loss(x).backward()
        grads[coef] = sae.W_enc.grad.clone()
    assert not torch.allclose(grads[1 / 32][:, :10], grads[0.0][:, :10])
    torch.testing.assert_close(grads[1 / 32][:, 10:], grads[0.0][:, 10:])
    alive = _random_sae("topk")
    mse = (alive(x) - x).pow(2).mean() / alive.x_var
    torch.testing.assert_close(alive.loss(x), mse)  # nothing dead: no auxiliary term


def test_geometric_median_of_symmetric_points() -> None:
    pts = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [1.0, 1.0], [100.0, 1.0]])
    med = geometric_median(pts)
    assert med[1] == pytest.approx(1.0, abs=1e-3) and 1.0 <= med[0] < 1.5  # robust to the outlier


def test_activation_buffer_serves_non_bos_activations_of_the_stream() -> None:
    model = random_model(CFG)
    stream = np.arange(1, 200) % (CFG.d_vocab - 1) + 1
    buf = ActivationBuffer(model, HOOK, stream, seq_len=CFG.n_ctx, bos_id=0, batch_tokens=16,
                           store_batch=4, n_batches_in_buffer=4)  # fmt: skip
    batches = torch.cat([buf.next() for _ in range(20)])
    assert batches.shape == (320, CFG.d_model) and buf.refills > 1
    bos_act = resid_activations(model, HOOK, torch.zeros(1, 1, dtype=torch.long))[0, 0]
    assert not torch.isclose(batches, bos_act, atol=1e-5).all(-1).any()


def test_sae_checkpoint_kind_round_trip(tmp_path: Path) -> None:
    sae = _random_sae("topk")
    save_sae(sae, tmp_path / "sae", extra={"layer": 1})
    loaded = load_checkpoint(tmp_path / "sae")
    x = torch.randn(9, 16)
    assert isinstance(loaded, SAE) and loaded.cfg == sae.cfg
    torch.testing.assert_close(loaded(x), sae(x))


@pytest.mark.parametrize("arch", ["standard", "topk"])
def test_reads_sae_lens_files_and_matches_its_outputs(arch: str) -> None:
    """Files and outputs written by SAELens 6.54.12 itself (data/make_saelens_fixture.py)."""
    sae = load_saelens(DATA / f"saelens_{arch}")
    expected = load_file(str(DATA / f"saelens_{arch}" / "expected.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(sae.encode(expected["x"]), expected["feature_acts"])
        torch.testing.assert_close(sae(expected["x"]), expected["sae_out"])
    assert sae.cfg.hook_name == "blocks.1.hook_resid_pre"


@pytest.mark.parametrize("arch", ["standard", "topk"])
def test_exports_sae_lens_layout_and_reads_it_back(arch: str, tmp_path: Path) -> None:
    sae = _random_sae(arch)
    out = export_saelens(sae, tmp_path / "lens", model_name="gpt-4l")
    theirs = json.loads((DATA / f"saelens_{arch}" / "cfg.json").read_text())
    ours = json.loads((out / "cfg.json").read_text())
    assert set(theirs) <= set(ours) and ours["architecture"] == arch
    assert set(load_file(str(out / "sae_weights.safetensors"))) == set(
        load_file(str(DATA / f"saelens_{arch}" / "sae_weights.safetensors")))
    back = load_saelens(out)
    x = torch.randn(8, 16)
    torch.testing.assert_close(back(x), sae(x))


def test_feature_data_top_contexts_and_logit_effects() -> None:
    model, tokens = random_model(CFG), _tokens(n=8)
    sae = _random_sae("topk")
    acts = resid_activations(model, HOOK, tokens)
    W_U = model.unembed.W_U.detach()
    out = feature_data(sae, acts, tokens, W_U, top_k=5, left=3, right=2, n_quantiles=4,
                       per_quantile=2, bins=6, logit_k=4, neighbors=3)  # fmt: skip
    with torch.no_grad():
        f = sae.encode(acts)  # [prompt, pos, S]
    f[:, 0] = 0
    i = int(out["density"].argmax())
    best = f[:, :, i].max(dim=1).values
    expected = best.sort(descending=True).values[:5]
    np.testing.assert_allclose(out["top_value"][i][out["top_prompt"][i] >= 0],
                               expected[expected > 0], rtol=1e-5)
    p, pos = out["top_prompt"][i, 0], out["top_pos"][i, 0]
    assert out["top_ids"][i, 0, 3] == tokens[p, pos] and out["top_acts"][i, 0, 3] == pytest.approx(
        float(f[p, pos, i]), rel=1e-5)
    assert out["density"][i] == pytest.approx(float((f[:, 1:, i] > 0).float().mean()))
    assert out["hist_counts"][i].sum() == int((f[:, :, i] > 0).sum())
    effect = sae.W_dec[i].detach() @ (W_U - W_U.mean(1, keepdim=True))
    assert set(out["logit_up_ids"][i]) == set(effect.topk(4).indices.tolist())
    cos = torch.nn.functional.normalize(sae.W_dec.detach(), dim=1)
    sims = cos @ cos[i]
    sims[i] = -2
    assert out["neighbor_ids"][i, 0] == int(sims.argmax())
    filled = ~np.isnan(out["quantile_value"][i])
    assert (out["quantile_value"][i][filled] > 0).all()
