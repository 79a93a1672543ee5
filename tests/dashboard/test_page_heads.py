"""Heads and Training dynamics pages on a store written by the real analysis steps (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dashboard import charts_heads

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"


@pytest.fixture(scope="module")
def step_store(tmp_path_factory) -> str:
    """A run of the hand-built induction circuit through jobs/steps/heads.py and dynamics.py."""
    from interp_core import Transformer, save_checkpoint
    from interp_core.analysis import induction_circuit
    from interp_core.prompts import repeated_random_tokens
    from jobs.analysis_context import AnalysisContext, StepCheckpoint
    from jobs.steps import dynamics, heads
    from store import RunWriter

    root = tmp_path_factory.mktemp("heads-store")
    circuit = induction_circuit(d_vocab=24, n_ctx=40)
    ckpts = [StepCheckpoint(s, s * 100, save_checkpoint(
        circuit if s >= 100 else Transformer(circuit.cfg, seed=s), root / f"ckpt{s}"))
        for s in (1, 10, 100, 1000)]
    tokens = torch.randint(1, 24, (4, 36), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    ctx = AnalysisContext(run_id="circuit", model=circuit, device=torch.device("cpu"),
                          eval_tokens=tokens, bos_id=0, token_strs=[f"t{i}" for i in range(24)],
                          rrt=repeated_random_tokens(n=12, batch=4, pool=range(1, 24), bos_id=0),
                          checkpoint_dir=root, step_checkpoints=ckpts, batch_size=4)
    cfg = circuit.cfg.to_dict()
    writer = RunWriter.create(root / "store", run_id="circuit", attrs={"config": cfg})
    writer.write("tokens", tokens.numpy().astype("int32"))
    heads.run(ctx, writer)
    dynamics.run(ctx, writer)
    writer.finalize()
    return str(root / "store")


def _page(root: str, page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = "circuit"
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_heads_page_shows_the_labelled_circuit(step_store):
    at = _page(step_store, "app_pages/heads.py")
    table = at.dataframe[0].value
    labels = dict(zip(table["name"], table["label"]))
    assert labels["0.0"] == "previous_token" and labels["1.0"] == "induction"
    assert "induction" in table.columns and "prev_token" in table.columns
    at.multiselect(key="heads_labels").set_value(["induction"]).run()
    assert not at.exception and list(at.dataframe[0].value["name"]) == ["1.0"]
    rules = at.table[0].value
    assert list(rules.iloc[0]) == ["induction", "induction", 0.4]


def test_training_dynamics_page_marks_the_phase_change(step_store):
    at = _page(step_store, "app_pages/training_dynamics.py")
    assert at.success and "step 10 and 100" in at.success[0].value
    assert len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")) >= 4


def test_pages_say_what_is_missing_for_a_run_without_heads(dashboard_store):
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["store_root"] = dashboard_store
    at.session_state["run_id"] = "attn-only-1l"
    at.run()
    at.switch_page("app_pages/training_dynamics.py").run()
    assert not at.exception and "no training dynamics" in at.info[0].value


def test_score_map_spec():
    import pandas as pd

    table = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1],
                          "label": ["a", "b", "c", "d"], "induction": [0.1, 0.2, 0.9, 0.0],
                          "mean_distance": [1.0, 4.0, 2.0, 3.0]})
    spec = charts_heads.score_map(table, "induction").to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 1]
    spec = charts_heads.score_map(table, "mean_distance").to_dict()
    assert "domain" not in spec["layer"][0]["encoding"]["color"]["scale"]
