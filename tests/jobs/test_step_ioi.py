"""jobs/steps/ioi.py: IOI prompts, scores and labels round-trip through the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig
from interp_core.analysis import ioi as A
from interp_core.ioi import BABA_TEMPLATES, NAMES, OBJECTS, PLACES, ioi_dataset
from interp_core.prompts import repeated_random_tokens
from interp_core.tokenizers import build_compact
from jobs.analysis_context import AnalysisContext
from jobs.steps import STEP_NAMES, Skipped, ioi
from store import RunWriter, open_store
from tests.reference import random_model


def _compact(n_names: int):
    """A gpt2-compact tokenizer whose vocabulary holds the templates and ``n_names`` names."""
    words = " ".join(NAMES[:n_names] + PLACES + OBJECTS)
    texts = [t.replace("[", "").replace("]", "") for t in BABA_TEMPLATES]
    return build_compact(texts + [" " + words], 300)


def _ctx(tokenizer, cfg: ModelConfig, tmp_path: Path) -> AnalysisContext:
    model = random_model(cfg, seed=2)
    tokens = torch.zeros(2, 4, dtype=torch.int64)
    rrt = repeated_random_tokens(n=3, batch=2, pool=range(1, 50), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=tokenizer.bos_id if tokenizer else 0,
                           token_strs=[str(i) for i in range(cfg.d_vocab)], checkpoint_dir=tmp_path,
                           tokenizer=tokenizer)  # fmt: skip


def test_ioi_step_round_trip(tmp_path: Path) -> None:
    tok = _compact(30)
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=tok.d_vocab,
                      n_ctx=32)
    ctx = _ctx(tok, cfg, tmp_path)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    findings = ioi.run(ctx, ioi.Config(n_prompts=6), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    data = ioi_dataset(tok, 6, seed=0)
    assert (run.read("ioi/tokens").values == data.tokens).all()
    with torch.no_grad():
        want = A.logit_diff_at_end(ctx.model(torch.as_tensor(data.tokens)), data, per_prompt=True)
    stored = run.read("ioi/logit_diff").values
    np.testing.assert_allclose(stored, want.numpy(), rtol=1e-5, atol=1e-6)
    scores = run.read("ioi/scores")
    assert scores.shape[1:] == (2, 2)
    dla = A.head_dla(ctx.model, data).numpy()
    np.testing.assert_allclose(scores.sel(ioi_score="dla").values, dla, atol=1e-5)
    assert (run.read("ioi/positions").sel(ioi_position="END").values == data.pos["END"]).all()
    labels, evidence = run.read("ioi/label").values, run.read("ioi/evidence").values
    for (layer, head), label in np.ndenumerate(labels):
        names = [x for x in str(label).split("+") if x]
        assert len(json.loads(evidence[layer, head] or "[]")) == len(names)
    assert findings[0].text.startswith("on 6 IOI prompts")
    assert STEP_NAMES.index("ioi") == STEP_NAMES.index("circuits") + 1


@pytest.mark.parametrize("case", ["few_names", "no_tokenizer", "short_context"])
def test_ioi_step_skips_with_a_reason(tmp_path: Path, case: str) -> None:
    tok = _compact(3 if case == "few_names" else 30)
    n_ctx = 8 if case == "short_context" else 32
    cfg = ModelConfig(n_layers=1, d_model=8, n_heads=1, d_head=8, d_vocab=tok.d_vocab, n_ctx=n_ctx)
    ctx = _ctx(None if case == "no_tokenizer" else tok, cfg, tmp_path)
    out = ioi.run(ctx, ioi.Config(n_prompts=4), RunWriter.create(tmp_path / "store", run_id="r"))
    assert isinstance(out, Skipped)
    assert {"few_names": "single-token names", "no_tokenizer": "no tokenizer",
            "short_context": "positions"}[case] in out.reason  # fmt: skip


def test_describe_names_the_evidence() -> None:
    labels = np.array([["", "name_mover"]], dtype=object)
    proof = {"end_io": [0.61, ">", 0.4], "dla": [2.1, ">", 0.3], "copy": [0.95, ">=", 0.9]}
    evidence = np.array([["", json.dumps([proof])]], dtype=object)
    out = ioi.describe(3.0, 8, labels, evidence)
    want = "head 0.1 is a name mover: attends END->IO 0.61, DLA +2.10, copy score 0.95"
    assert out[1].text == want
    assert out[1].refs["label"] == "name_mover" and out[1].refs["head"] == 1
    none = ioi.describe(0.1, 8, np.array([[""]], dtype=object), np.array([[""]], dtype=object))
    assert none[1].kind == "null"
