"""The ``gpu`` preset end to end on the CPU at its real shapes: train, analyse, every page.

The gpu preset (full GPT-2 BPE, 50,257 ids; d_model 512; sequences of 512 in batches of 64;
128 evaluation prompts of 256 tokens) is meant for a CUDA box, so nothing else in the suite
ever builds it. This smoke test trains two rungs for a handful of steps through the command
line (``--steps``), analyses them with the preset's own analysis settings, and renders every
page of ``dashboard.pages_registry.PAGES`` on the result, so a shape that only the gpu preset
reaches (a 50k vocabulary, 512 positions, 128 prompts) fails here instead of on the GPU box.

Only sizes that are not shapes are reduced, through ``--set``: the SAE trains on
``SAE_TRAIN_TOKENS`` activations (the preset's 100M would take hours on a CPU; its batch of
16,384 tokens, expansion 32 and k 32 are kept) and evaluates on ``SAE_EVAL_TOKENS`` (the
preset's 1M would be a ~60 TFLOP forward pass). Everything else is the preset's.

Slow (tens of minutes on 2 cores): ``make test-slow`` or
``pytest -m slow tests/jobs/test_gpu_preset.py``.
"""

from __future__ import annotations

import pytest

from dashboard.pages_registry import PAGES
from interp_core.models.ladder import LADDER
from jobs.__main__ import main
from jobs.presets import PRESETS
from store import open_store
from tests.dashboard.app_helpers import visit

RUNGS = ("attn-only-2l", "gpt-4l")
"""The deepest attention-only rung and the full-block one (the shapes the others reach too)."""
TRAIN_STEPS = 2
"""Optimizer steps per rung: enough for a checkpoint, a resume state and a validation loss."""
SAE_TRAIN_TOKENS = 2 * PRESETS["gpu"].analysis["sae"]["batch_tokens"]
"""Two SAE optimizer steps at the preset's batch size."""
SAE_EVAL_TOKENS = 16_384
"""Evaluation tokens of the SAE metrics and feature contexts."""
PAGE_TIMEOUT = 600
"""Seconds one page may take at these shapes (the 50k-token maps and tables)."""

pytestmark = pytest.mark.slow


def _run_id(rung: str) -> str:
    return f"gpu-{rung}"


@pytest.fixture(scope="module")
def gpu_store(tmp_path_factory):
    """A store with one gpu-preset run per rung in ``RUNGS``, built through the CLI on the CPU."""
    root = tmp_path_factory.mktemp("gpu-preset")
    for rung in RUNGS:
        ckpt = root / "checkpoints" / rung
        train = ["train", "--model", rung, "--preset", "gpu", "--out", str(ckpt),
                 "--steps", str(TRAIN_STEPS), "--device", "cpu"]
        assert main(train) == 0
        analyze = ["analyze", "--checkpoint", str(ckpt), "--store-root", str(root / "store"),
                   "--run-id", _run_id(rung), "--device", "cpu",
                   "--set", f"sae.train_tokens={SAE_TRAIN_TOKENS}",
                   "--set", f"sae.eval_tokens={SAE_EVAL_TOKENS}"]
        assert main(analyze) == 0
    return str(root / "store")


def test_gpu_runs_have_the_preset_shapes(gpu_store):
    store = open_store(gpu_store)
    assert store.runs() == sorted(_run_id(r) for r in RUNGS)
    for rung in RUNGS:
        run = store.run(_run_id(rung))
        shape = LADDER["gpu"][rung]
        assert run.attrs["preset"] == "gpu"
        assert run.attrs["config"]["d_vocab"] == 50257  # the full GPT-2 vocabulary
        assert run.attrs["config"]["d_model"] == shape.d_model
        assert run.sizes("tokens") == {"prompt": PRESETS["gpu"].n_prompts,
                                       "pos": PRESETS["gpu"].prompt_len}
        assert run.attrs["training"]["steps"] == TRAIN_STEPS
        assert run.attrs["training"]["seq_len"] == PRESETS["gpu"].seq_len
        sae = run.attrs["steps"]["sae"]["settings"]
        assert (sae["expansion"], sae["k"]) == (32, 32)  # the preset's, not the defaults


@pytest.mark.parametrize("page", [p.script for p in PAGES])
def test_every_page_renders_on_gpu_runs(gpu_store, page):
    for rung in RUNGS:
        at = visit(gpu_store, _run_id(rung), page, timeout=PAGE_TIMEOUT)
        assert at.title, f"{page} shows no title on {_run_id(rung)}"
