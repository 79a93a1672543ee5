"""jobs/steps/dynamics.py: a planted phase change across saved checkpoints is found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interp_core import Transformer, save_checkpoint
from interp_core.analysis import DYNAMICS_SCORES, induction_circuit
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext, StepCheckpoint
from jobs.steps import dynamics
from store import RunWriter, open_store


def test_dynamics_step_finds_a_planted_phase_change(tmp_path: Path) -> None:
    circuit = induction_circuit(d_vocab=24, n_ctx=40)
    ckpts = []
    for step in (0, 10, 30, 100, 300, 1000):
        model = circuit if step >= 300 else Transformer(circuit.cfg, seed=step)
        path = save_checkpoint(model, tmp_path / f"step_{step}")
        ckpts.append(StepCheckpoint(step, step * 64, path))
    tokens = torch.randint(1, 24, (4, 40), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=12, batch=4, pool=range(1, 24), bos_id=0, seed=0)
    ctx = AnalysisContext(run_id="d", model=circuit, device=torch.device("cpu"), eval_tokens=tokens,
                          rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(24)],
                          checkpoint_dir=tmp_path, step_checkpoints=ckpts[::-1], batch_size=4)
    writer = RunWriter.create(tmp_path / "store", run_id="d")
    dynamics.run(ctx, dynamics.Config(), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("d")
    assert run.read("dynamics/step").values.tolist() == [0, 10, 30, 100, 300, 1000]
    scores = run.read("dynamics/head_scores")
    assert scores.dims == ("checkpoint", "layer", "head", "score") and scores.shape == (6, 2, 2, 5)
    ind = scores.values[:, 1, 0, DYNAMICS_SCORES.index("induction")]
    assert ind[-1] > 0.95 and ind[0] < 0.2
    phase = run.attrs["dynamics"]["phase_change"]
    assert (phase["start_step"], phase["end_step"]) == (100, 300) and phase["end_tokens"] == 300 * 64
    induction_loss = run.read("dynamics/induction_loss").values
    assert induction_loss[-1] < 0.1 < induction_loss[0]
    np.testing.assert_allclose(run.read("dynamics/icl_gain").values,
                               -run.read("dynamics/icl_score").values)
    assert run.read("dynamics/loss_by_pos").shape == (6, 39)
