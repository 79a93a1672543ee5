"""jobs/steps/glassbox.py: one glass-box forward + backward pass, checked against torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, save_checkpoint
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import Skipped, glassbox
from store import RunWriter, open_store
from tests.reference import random_model

FULL = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=50, n_ctx=16)


def _run(cfg: ModelConfig, tmp_path: Path, *, edit_config=None):
    model = random_model(cfg, seed=3)
    save_checkpoint(model, tmp_path / "ckpt")
    if edit_config:
        path = tmp_path / "ckpt" / "config.json"
        path.write_text(json.dumps(edit_config(json.loads(path.read_text()))))
    tokens = torch.randint(1, cfg.d_vocab, (4, 14), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, cfg.d_vocab), bos_id=0, seed=0)
    ctx = AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                          rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(cfg.d_vocab)],
                          checkpoint_dir=tmp_path / "ckpt")  # fmt: skip
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    result = glassbox.run(ctx, glassbox.Config(prompt_len=9), writer)
    writer.finalize()
    return model, tokens[0, :9], result, open_store(tmp_path / "store").run("r")


def test_glassbox_step_matches_torch_autograd(tmp_path: Path) -> None:
    model, prompt, findings, run = _run(FULL, tmp_path)
    assert [f.kind for f in findings] == ["result", "result"]
    logits = model(prompt[None])
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], prompt[1:])
    loss.backward()
    names = list(run.read("glassbox/param_name").values)
    assert names == [n for n, _ in model.named_parameters()]
    expected = [p.grad.norm().item() for _, p in model.named_parameters()]
    np.testing.assert_allclose(run.read("glassbox/grad_norm").values, expected, rtol=1e-4, atol=1e-7)
    attrs = run.read("glassbox/tokens").attrs
    assert attrs["loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert attrs["max_logit_diff"] < 1e-4
    _, cache = model.run_with_cache(prompt[None])
    pattern = run.read("glassbox/pattern").values  # [layer, head, q, k]
    np.testing.assert_allclose(pattern[1], cache["blocks.1.attn.hook_pattern"][0].detach().numpy(),
                               atol=1e-6)  # fmt: skip
    layers = list(run.read("glassbox/layer_name").values)
    assert layers[0] == "embed" and layers[-1] == "unembed" and "blocks.1.mlp" in layers
    out_shape = run.read("glassbox/out_shape").values
    assert list(out_shape[layers.index("unembed")]) == [1, 9, 50]
    assert list(run.read("glassbox/in_shape").values[0]) == [1, 9, -1]
    grad_in = run.read("glassbox/grad_in_norm").values
    assert layers[1] == "pos_embed"  # the embeddings pass no gradient on: their input is ids
    assert np.isnan(grad_in[:2]).all() and np.isfinite(grad_in[2:]).all()


def test_zero_layer_model_has_no_patterns(tmp_path: Path) -> None:
    cfg = ModelConfig(n_layers=0, d_model=16, d_vocab=50, n_ctx=16, normalization_type=None,
                      positional_embedding_type=None)  # fmt: skip
    _, _, findings, run = _run(cfg, tmp_path)
    assert run.has("glassbox/grad_norm") and not run.has("glassbox/pattern")
    assert list(run.read("glassbox/layer_name").values) == ["embed", "unembed"]


def test_checkpoint_the_glass_box_cannot_run_is_skipped(tmp_path: Path) -> None:
    _, _, result, run = _run(FULL, tmp_path, edit_config=lambda c: c | {"kind": "sae"})
    assert isinstance(result, Skipped) and "cannot run" in result.reason
    assert not run.has("glassbox/tokens")


def test_a_model_the_glass_box_does_not_reproduce_is_skipped(tmp_path: Path) -> None:
    """A config the checkpoint's weights do not follow (here: the activation) is caught by
    comparing logits, not trusted."""
    _, _, result, run = _run(FULL, tmp_path, edit_config=lambda c: c | {"act_fn": "relu"})
    assert isinstance(result, Skipped) and "does not reproduce" in result.reason
    assert not run.has("glassbox/tokens")


def test_describe_names_the_largest_and_smallest_gradients() -> None:
    found = glassbox.describe(2e-6, 8.0, 9, 3.5, ["a.W", "b.W", "c.b"], np.array([0.5, 3.0, 0.0]))
    assert "to within 2.0e-06" in found[0].text and "9-token prompt" in found[0].text
    assert "largest gradient is on b.W" in found[1].text and "smallest on c.b" in found[1].text
    assert found[1].refs["params"] == ["b.W", "c.b"]
