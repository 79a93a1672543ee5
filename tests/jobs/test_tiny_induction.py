"""The real ``tiny`` preset's attn-only-2l forms a labelled induction circuit (slow: ~1 min quiet).

What ``make demo`` and CI show on the Heads and Training dynamics pages: a layer-1 head with
induction score >= 0.5 labelled ``induction``, a layer-0 head that attends to the previous
token, and a phase-change window across the kept checkpoints (docs/methods.md §6.4).
"""

from __future__ import annotations

import numpy as np
import pytest

from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.presets import PRESETS
from jobs.train_model import TrainConfig, train
from store import Store


@pytest.mark.slow
def test_tiny_attn_only_2l_forms_an_induction_head_with_a_phase_change(tmp_path):
    ckpt = train(TrainConfig(model="attn-only-2l", preset="tiny", out=tmp_path / "ckpt",
                             device="cpu"), progress=False)
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=tmp_path / "store", run_id="a2",
                          device="cpu", steps=("heads", "dynamics")), progress=False)
    run = Store(tmp_path / "store").run("a2")
    scores = run.read("heads/scores")
    labels = np.asarray(run.read("heads/label").values).astype(str)  # [layer, head]
    induction = scores.sel(score="induction").values  # [layer, head]
    prev = scores.sel(score="prev_token").values
    best = int(np.argmax(induction[1]))
    assert induction[1, best] >= 0.5 and labels[1, best] == "induction", (induction, labels)
    assert prev[0].max() > 0.4, prev  # a layer-0 previous-token head (natural text) feeds it

    phase = run.attrs["dynamics"]["phase_change"]
    assert phase is not None and phase["start_step"] < phase["end_step"]
    steps = run.read("dynamics/step").values
    kept = PRESETS["tiny"].steps["attn-only-2l"]
    assert steps[-1] == kept and phase["end_step"] in steps and phase["start_step"] in steps
