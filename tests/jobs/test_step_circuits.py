"""jobs/steps/circuits.py: circuits of the hand-built induction model, read back from the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import composition_baseline, induction_circuit
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import circuits
from store import RunWriter, open_store


def _run(model: Transformer, tmp_path: Path, **options):
    V = model.cfg.d_vocab
    tokens = torch.randint(1, V, (4, 12), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    ctx = AnalysisContext(
        run_id="r",
        model=model,
        device=torch.device("cpu"),
        eval_tokens=tokens,
        rrt=repeated_random_tokens(n=4, batch=2, pool=range(1, V), bos_id=0),
        bos_id=0,
        token_strs=[str(i) for i in range(V)],
        checkpoint_dir=tmp_path,
    )
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    circuits.run(ctx, circuits.Config(**({"n_tokens": 10, "k": 3} | options)), writer)
    writer.finalize()
    return open_store(tmp_path / "store").run("r")


def test_induction_circuit_shows_k_composition_and_copying(tmp_path: Path) -> None:
    model = induction_circuit(d_vocab=24, n_ctx=20)
    run = _run(model, tmp_path)
    assert [str(m) for m in run.read("circuits/comp_mode").values] == ["Q", "K", "V"]
    comp = run.read("circuits/comp", comp_mode=1)  # K composition, baseline subtracted
    assert comp.dims == ("src_layer", "src_head", "dst_layer", "dst_head")
    raw = run.read("circuits/comp_raw", comp_mode=1).values
    assert np.unravel_index(raw.argmax(), raw.shape) == (0, 0, 1, 0)  # 0.0 -> 1.0
    assert (
        raw[0, 0, 1, 0] > 1.5 * run.read("circuits/comp").attrs["baseline"]
    )  # rank 24: 1/sqrt(24)
    assert run.read("circuits/comp").attrs["baseline"] == composition_baseline(
        model.cfg.d_model, model.cfg.d_head
    )
    assert np.all(run.read("circuits/comp_raw").values[:, 1, :, 0] == 0)  # dst before src
    copying = run.read("circuits/copying").values
    assert copying[1, 0] > 0.9 and copying[1, 1] == 0  # the induction head copies; inert head 0
    assert run.read("circuits/ov_top1").values[1, 0] == 1.0
    ov_ids = run.read("circuits/ov_top_id", layer=1, head=0).values  # [circuit_token, topk]
    np.testing.assert_array_equal(ov_ids[:, 0], run.read("circuits/token").values)
    assert not run.has("circuits/trigram_src")


def test_one_layer_model_gets_a_skip_trigram_table(tmp_path: Path) -> None:
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=40, n_ctx=16)
    run = _run(Transformer(cfg, seed=0), tmp_path, trigram_rows=7, trigram_candidates=20)
    heads = run.read("circuits/trigram_head").values
    assert list(heads) == [0] * 7 + [1] * 7
    ov = run.read("circuits/trigram_ov").values
    assert np.all(np.diff(ov[:7]) <= 0)  # ranked by OV strength within a head
    copy = run.read("circuits/trigram_copying").values
    np.testing.assert_array_equal(
        copy, run.read("circuits/trigram_src").values == run.read("circuits/trigram_out").values
    )
    assert run.read("circuits/qk_top_id").shape == (1, 2, 10, 3)
    assert not run.has("circuits/comp")


def test_zero_layer_model_gets_nothing(tmp_path: Path) -> None:
    cfg = ModelConfig(
        n_layers=0,
        d_model=8,
        d_vocab=20,
        n_ctx=8,
        normalization_type=None,
        positional_embedding_type=None,
    )
    run = _run(Transformer(cfg, seed=0), tmp_path)
    assert not [a for a in run.arrays() if a.startswith("circuits/")]
