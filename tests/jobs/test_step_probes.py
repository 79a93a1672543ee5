"""jobs/steps/probes.py: probe arrays round-trip through the store; windows, skips and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.corpora import load_corpus, shakespeare_dir
from interp_core.properties import PROPERTIES, document
from interp_core.prompts import repeated_random_tokens
from interp_core.tokenizers import load_tokenizer
from jobs.analysis_context import AnalysisContext
from jobs.data import VAL_FRACTION
from jobs.errors import JobError
from jobs.steps import STEP_NAMES, Skipped, probes
from store import RunWriter, open_store

BYTES = load_tokenizer("bytes")
MAX_CHARS = 200_000
SMALL = probes.Config(n_prompts=12, prompt_len=40, max_tokens=300, n_boot=50)


def _ctx(tmp_path: Path, n_layers: int = 1, *, corpus: str | None = "stdlib",
         tokenizer=BYTES, model: Transformer | None = None) -> AnalysisContext:
    cfg = ModelConfig(n_layers=n_layers, d_model=64, n_heads=2, d_head=32, d_mlp=128,
                      d_vocab=256, n_ctx=64)
    model = model or Transformer(cfg, seed=0).eval()
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, 256), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"),
                           eval_tokens=torch.zeros((2, 8), dtype=torch.long), rrt=rrt, bos_id=0,
                           token_strs=[str(i) for i in range(256)], checkpoint_dir=tmp_path,
                           tokenizer=tokenizer, corpus=corpus, corpus_max_chars=MAX_CHARS)


def _run(ctx: AnalysisContext, tmp_path: Path, cfg: probes.Config = SMALL):
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    out = probes.run(ctx, cfg, writer)
    writer.finalize()
    return out, open_store(tmp_path / "store").run("r")


def test_probes_step_round_trip(tmp_path: Path) -> None:
    findings, run = _run(_ctx(tmp_path), tmp_path)
    acc = run.read("probes/accuracy")
    assert acc.dims == ("probe_model", "probe_property", "probe_layer")
    assert list(acc.probe_model.values) == ["trained", "random-init"]
    assert list(acc.probe_property.values) == ["py_string", "py_comment", "py_indent",
                                               "py_line_start"]
    assert list(acc.probe_layer.values) == ["embed", "0_pre", "final_post"]
    values = {n: run.read(f"probes/{n}").values for n in ("ci_low", "ci_high", "control",
                                                          "selectivity")}
    assert np.isfinite(acc.values).all() and ((acc.values >= 0) & (acc.values <= 1)).all()
    assert (values["ci_low"] <= acc.values + 1e-6).all()
    assert (acc.values <= values["ci_high"] + 1e-6).all()
    np.testing.assert_allclose(values["selectivity"], acc.values - values["control"], atol=1e-6)
    assert run.read("probes/majority").shape == (4,)
    assert (run.read("probes/n_tokens").values == 300).all()
    assert run.read("probes/classes").values[2] == "depth 0 | depth 1 | depth 2 | depth 3+"
    assert acc.attrs["corpus"] == "stdlib" and acc.attrs["n_prompts"] == 12
    assert len(findings) >= 4
    assert {f.refs["property"] for f in findings} == set(acc.probe_property.values)


def test_step_is_listed_after_circuits() -> None:
    assert STEP_NAMES.index("probes") > STEP_NAMES.index("circuits")


def test_windows_are_disjoint_labelled_slices_of_held_out_documents() -> None:
    split = load_corpus("stdlib", max_chars=MAX_CHARS).split(VAL_FRACTION)
    props = [PROPERTIES["py_string"], PROPERTIES["py_comment"]]
    tokens, labels = probes.probe_windows(BYTES, split.val_names, split.val, props,
                                          n_prompts=10, length=33, seed=1)
    assert tokens.shape == (10, 33) and (tokens[:, 0] == 0).all()
    assert (labels["py_string"][:, 0] == -1).all()
    docs = {name: document(BYTES, name, text) for name, text in zip(split.val_names, split.val)}
    for row, lab in zip(tokens, labels["py_string"]):
        hits = [(name, i) for name, d in docs.items() for i in range(len(d) - 31)
                if np.array_equal(d.ids[i : i + 32], row[1:])]
        name, start = hits[0]  # the window is a slice of a held-out document
        expected = PROPERTIES["py_string"].label(docs[name])
        assert expected is not None and np.array_equal(lab[1:], expected[start : start + 32])
    flat = [bytes(r[1:].astype(np.uint8)) for r in tokens]
    assert len(set(flat)) == len(flat)


@pytest.mark.skipif(not shakespeare_dir().is_dir(), reason="Shakespeare not prepared (make data)")
def test_shakespeare_properties_are_probed(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, corpus="shakespeare")
    ctx.corpus_max_chars = None
    _, run = _run(ctx, tmp_path, probes.Config(n_prompts=16, prompt_len=64, max_tokens=300,
                                               n_boot=50))
    assert run.read("probes/accuracy").attrs["skipped"] == {}
    assert list(run.read("probes/property").values) == ["speaker_name", "stage_direction",
                                                       "line_position"]


def test_zero_layer_model_probes_its_embedding(tmp_path: Path) -> None:
    _, run = _run(_ctx(tmp_path, n_layers=0), tmp_path,
                  probes.Config(n_prompts=6, prompt_len=30, max_tokens=200, n_boot=20,
                                random_baseline=False, properties=("py_line_start",)))
    acc = run.read("probes/accuracy")
    assert acc.shape == (1, 1, 2) and list(acc.probe_layer.values) == ["embed", "final_post"]


def test_skips_without_an_applicable_property(tmp_path: Path) -> None:
    out = probes.run(_ctx(tmp_path, corpus="/data/my_notes"), SMALL, None)
    assert isinstance(out, Skipped) and "'/data/my_notes'" in out.reason
    assert "interp_core/properties.py" in out.reason
    out = probes.run(_ctx(tmp_path, corpus=None, tokenizer=None), SMALL, None)
    assert isinstance(out, Skipped) and "no tokenizer" in out.reason


def test_nan_activations_are_a_one_line_error(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    with torch.no_grad():
        ctx.model.embed.W_E[:] = float("nan")
    with pytest.raises(JobError, match="NaN") as err:
        _run(ctx, tmp_path)
    assert "\n" not in str(err.value)


def test_settings_are_checked() -> None:
    with pytest.raises(JobError, match="unknown property 'nope'"):
        probes.check(probes.Config(properties=("nope",)), None, None)
    with pytest.raises(ValueError, match="n_splits"):
        probes.Config(n_prompts=2, n_splits=3)
    with pytest.raises(ValueError, match="C="):
        probes.Config(C=0)


def _res(acc, lo, ctrl, maj):
    shape = (2, 1, 3)
    accuracy = np.array(acc, dtype=float).reshape(shape)
    control = np.full(shape, ctrl)
    return {"accuracy": accuracy, "ci_low": np.full(shape, lo), "ci_high": accuracy + 0.02,
            "control": control, "selectivity": accuracy - control, "majority": np.array([maj])}


def test_describe() -> None:
    props, layers = [PROPERTIES["py_string"]], ["embed", "0_pre", "final_post"]
    models = probes.MODELS
    found = probes.describe(props, layers, models, _res([0.8, 0.93, 0.9, 0.7, 0.71, 0.7],
                                                        0.91, 0.61, 0.75))
    assert found[0].kind == "result" and found[0].text == (
        "inside a string literal is decodable from 0_pre at 0.93 (95% CI 0.91-0.95; control "
        "0.61, selectivity 0.32; majority 0.75); the token embedding alone gives 0.80; the "
        "random-init model reaches 0.71 there")
    assert len(found) == 1 and found[0].refs["probe_layer"] == "0_pre"
    null = probes.describe(props, layers, models, _res([0.76] * 6, 0.74, 0.7, 0.75))
    assert null[0].kind == "null"
    assert "not decodable above the majority baseline (0.75)" in null[0].text
    low = probes.describe(props, layers, models, _res([0.9] * 6, 0.88, 0.88, 0.5))
    assert [f.kind for f in low] == ["result", "caveat"] and "selectivity" in low[1].text
    same = probes.describe(props, layers, models,
                           _res([0.6, 0.9, 0.6, 0.6, 0.9, 0.6], 0.85, 0.5, 0.5))
    assert [f.kind for f in same] == ["result", "caveat"] and "random-init" in same[1].text
