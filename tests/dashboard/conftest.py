"""A fixture store for dashboard tests: a tiny synthetic ladder written with store.RunWriter.

No torch and no training: arrays are made with numpy so the store builds in well under a
second. Runs:

- ``bigram-0l``: 0 layers (no attention), training curves, weights W_E/W_U; its ``steps``
  record marks the attention steps skipped, with their reasons;
- ``attn-only-1l``: 1 layer x 2 heads, patterns but no norm-based patterns, trained with
  ``repeat_fraction=0.5`` (the Overview page must say so); RRT patterns without
  ``rrt/tokens``. Written as runs were before the attrs contract: no ``steps``,
  ``ladder_rank`` or ``unit_scores``, so it lists after the ladder and pages fall back;
- ``gpt-1l``: 1 layer x 2 heads with an MLP (d_mlp 16): neuron arrays and activations
  (``fixture_neurons.py``), a patching experiment with nothing to explain;
- ``attn-only-2l``: 2 layers x 4 heads, attention weights and norm-based patterns, RRT
  patterns with their tokens, head scores and labels (with the labelling ``rules``: no
  head is over the ``first-token`` threshold), findings of every step and user prompts
  (``fixture_findings.py``). The deepest run, so the one the picker starts on.

The new-style runs carry the attrs the jobs write: root ``ladder_rank`` and ``steps``
(step -> status, reason, writes, settings, seconds), ``unit_scores`` on ``heads/score``.

Token strings include ``<script>alert(1)</script>``, ``&`` and a newline; prompt 0 of every
run contains them (ids 1, 2, 3).

Other pages add arrays without editing this file: drop a module
``tests/dashboard/fixture_<topic>.py`` next to it defining ``add_arrays(writer, info)``; it is
called for every run before ``finalize`` (``info`` is a :class:`RunInfo`). Write only arrays
declared in ``store/schema.py``.

Fixtures: ``dashboard_store`` (str path of the store root, session-scoped, read-only: do not
write into it), ``dashboard_runs`` (run id -> RunInfo). Stores written by the real analysis
steps (torch, a few seconds each, built once per session): ``steps_store`` (bigrams,
embeddings, circuits; runs zero/one/two), ``heads_store`` (heads and dynamics on the
hand-built induction circuit; run ``circuit``), ``attribution_store`` (attribution,
neurons, patching; runs gpt-2l and attn-only-2l).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from store import RunWriter
from store.schema import is_declared

VOCAB = ["<|BOS|>", "<script>alert(1)</script>", " &", "\n", " the", " cat", " sat", " on",
         " mat", ".", " a", " dog", " ran", " to", " park", "def", " foo", "(", ")", ":",
         " return", " x", " +", " 1", " if", " else", " in", " for", " i", " range", "=", ","]
"""Token strings of the fixture vocabulary (ids are list indices)."""
N_PROMPTS, N_POS, D_MODEL, RRT_N = 4, 16, 8, 7


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a fixture run looks like, for tests and for ``fixture_<topic>.py`` plugins."""

    run_id: str
    rung: str
    n_layers: int
    n_heads: int
    d_model: int = D_MODEL
    d_head: int = 4
    d_mlp: int | None = None
    d_vocab: int = len(VOCAB)
    n_prompts: int = N_PROMPTS
    n_pos: int = N_POS
    repeat_fraction: float = 0.0
    norm_pattern: bool = False
    rrt_tokens: bool = True
    """Write ``rrt/tokens`` next to ``attn/rrt_pattern`` (the page must cope without)."""
    ladder_rank: int | None = None
    """The rung's place in the ladder; None writes the run as before the attrs contract
    (no ``ladder_rank``, ``steps`` or ``unit_scores``)."""
    seed: int = 0

    @property
    def new_style(self) -> bool:
        """True when the run carries the attrs contract (``steps``, ``ladder_rank``, ...)."""
        return self.ladder_rank is not None


RUNS = [
    RunInfo("bigram-0l", "bigram-0l", n_layers=0, n_heads=1, d_head=1, ladder_rank=1, seed=1),
    RunInfo("gpt-1l", "gpt-1l", n_layers=1, n_heads=2, d_mlp=16, ladder_rank=2, seed=4),
    RunInfo("attn-only-1l", "attn-only-1l", n_layers=1, n_heads=2, repeat_fraction=0.5,
            rrt_tokens=False, seed=2),
    RunInfo("attn-only-2l", "attn-only-2l", n_layers=2, n_heads=4, norm_pattern=True,
            ladder_rank=3, seed=3),
]
LADDER = ["bigram-0l", "gpt-1l", "attn-only-2l", "attn-only-1l"]
"""Run ids as the dashboard lists them: by ladder_rank, then runs without one (by name)."""
SCORES = ["prev_token", "induction", "first_token"]
"""Head scores of the fixture runs (all fractions)."""
LABEL_RULES = [{"label": "previous-token", "score": "prev_token", "above": 0.3},
               {"label": "induction", "score": "induction", "above": 0.4},
               {"label": "first-token", "score": "first_token", "above": 1.5}]
"""``rules`` attr of ``heads/label`` in new-style runs; no uniform score beats 1.5, so no
head is over the first-token threshold."""
STEP_NAMES = ("tokens", "vocab", "weights", "activations", "patterns", "training", "heads",
              "dynamics", "attribution", "neurons", "patching", "bigrams", "embeddings",
              "circuits")
"""Analysis steps in the order the jobs run them (keys of the root attr ``steps``)."""
SKIPPED_WITHOUT_LAYERS = {
    "patterns": "a 0-layer model has no attention",
    "heads": "a 0-layer model has no attention heads",
    "dynamics": "a 0-layer model has no attention heads",
    "patching": "a 0-layer model has no components to patch",
    "circuits": "a 0-layer model has no attention heads",
}
"""Steps a 0-layer run records as skipped, with the reason the jobs give."""


def _causal_patterns(rng: np.random.Generator, n_layers: int, n_heads: int, n_prompts: int,
                     n_pos: int) -> np.ndarray:
    """Random attention patterns [layer, head, prompt, q, k]: causal rows summing to 1."""
    logits = rng.normal(scale=2.0, size=(n_layers, n_heads, n_prompts, n_pos, n_pos))
    logits[..., np.triu_indices(n_pos, k=1)[0], np.triu_indices(n_pos, k=1)[1]] = -np.inf
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float16)


def _attrs(info: RunInfo, n_params: int, tokens_seen: int, val_loss: float) -> dict:
    config = {"n_layers": info.n_layers, "d_model": info.d_model, "n_heads": info.n_heads,
              "d_head": info.d_head, "d_mlp": info.d_mlp, "d_vocab": info.d_vocab, "n_ctx": 32,
              "act_fn": "gelu", "normalization_type": "LN" if info.n_layers else None}
    training = {"rung": info.rung, "preset": "tiny", "steps": 100, "tokens_seen": tokens_seen,
                "batch_size": 8, "seq_len": info.n_pos, "n_params": n_params,
                "val_loss": val_loss, "perplexity": float(np.exp(val_loss)),
                "wall_time_s": 1.5, "device": "cpu (2 threads)", "precision": "fp32",
                "repeat_fraction": info.repeat_fraction, "data": {"corpus": "fixture"}}
    return {"config": config, "tokenizer": {"name": "fixture", "d_vocab": info.d_vocab},
            "training": training, "rung": info.rung, "preset": "tiny", "n_params": n_params,
            "prompts": {"prompts": "fixture text", "n_prompts": info.n_prompts,
                        "prompt_len": info.n_pos},
            "provenance": {"argv": ["pytest"], "seed": info.seed}}


def steps_record(info: RunInfo) -> dict:
    """The root attr ``steps`` of a new-style run: every step done, except those a 0-layer
    model skips (with the jobs' reason)."""
    writes = {"tokens": ["tokens"], "vocab": ["vocab/"], "activations": ["acts/"],
              "patterns": ["attn/"], "attribution": ["dla/", "logit_lens/"]}
    record = {}
    for step in STEP_NAMES + (("prompts",) if info.run_id == "attn-only-2l" else ()):
        skipped = SKIPPED_WITHOUT_LAYERS.get(step) if not info.n_layers else None
        record[step] = {"settings": {}, "writes": [] if skipped else writes.get(step, [f"{step}/"]),
                        "status": "skipped" if skipped else "done", "reason": skipped,
                        "seconds": 0.01}
    return record


def _plugins() -> list:
    """``add_arrays`` functions of every tests/dashboard/fixture_*.py module."""
    found = []
    for path in sorted(Path(__file__).parent.glob("fixture_*.py")):
        spec = importlib.util.spec_from_file_location(f"_dashboard_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(module.add_arrays)
    return found


def write_run(root: Path, info: RunInfo) -> None:
    """Write one synthetic run (and the plugins' arrays) into ``root``."""
    rng = np.random.default_rng(info.seed)
    L, H, P, T = info.n_layers, info.n_heads, info.n_prompts, info.n_pos
    n_params = 2 * info.d_vocab * info.d_model + L * H * 4 * info.d_model * info.d_head
    steps = np.arange(0, 101, 10, dtype=np.int64)
    tokens_seen = steps * 8 * T
    loss = (np.log(info.d_vocab) * np.exp(-steps / 40) + 1.5 + 0.3 / (1 + L)).astype(np.float32)
    writer = RunWriter.create(root, run_id=info.run_id,
                              attrs=_attrs(info, n_params, int(tokens_seen[-1]), float(loss[-1])))
    tokens = rng.integers(4, info.d_vocab, size=(P, T)).astype(np.int32)
    tokens[:, 0] = 0
    tokens[0, 1:5] = [1, 2, 3, 2]  # <script>, &, newline, & in prompt 0
    writer.write("tokens", tokens)
    writer.write("vocab/token_str", np.asarray(VOCAB[: info.d_vocab], dtype=object))
    writer.write("training/step", steps)
    writer.write("training/tokens_seen", tokens_seen)
    writer.write("training/loss", loss)
    writer.write("training/lr", np.full(len(steps), 1e-3, dtype=np.float32))
    writer.write("training/grad_norm", rng.uniform(0.5, 2, len(steps)).astype(np.float32))
    writer.write("training/eval_step", steps[::5])
    writer.write("training/eval_tokens_seen", tokens_seen[::5])
    writer.write("training/val_loss", loss[::5] + np.float32(0.05))
    writer.write("weights/W_E", rng.normal(size=(info.d_vocab, info.d_model)).astype(np.float32))
    writer.write("weights/W_U", rng.normal(size=(info.d_model, info.d_vocab)).astype(np.float32))
    writer.write("acts/resid", rng.normal(size=(L + 1, P, T, info.d_model)).astype(np.float16))
    if L:
        writer.write("attn/pattern", _causal_patterns(rng, L, H, P, T))
        if info.norm_pattern:
            writer.write("attn/norm_pattern", _causal_patterns(rng, L, H, P, T) * 3)
        if is_declared("attn/rrt_pattern"):
            writer.write("attn/rrt_pattern", _causal_patterns(rng, L, H, 2, 2 * RRT_N + 1))
        if is_declared("rrt/tokens") and info.rrt_tokens:
            rrt = rng.integers(4, info.d_vocab, size=(2, RRT_N)).astype(np.int32)
            writer.write("rrt/tokens", np.concatenate([np.zeros((2, 1), np.int32), rrt, rrt], 1))
        writer.write("heads/scores", rng.uniform(size=(L, H, len(SCORES))).astype(np.float32))
        writer.write("heads/score", np.asarray(SCORES, dtype=object),
                     **({"unit_scores": SCORES} if info.new_style else {}))
        labels = np.full((L, H), "", dtype=object)
        labels[0, 0] = "previous-token"
        if L > 1:
            labels[1, 1] = "induction"
        writer.write("heads/label", labels, **({"rules": LABEL_RULES} if info.new_style else {}))
    for add_arrays in _plugins():
        add_arrays(writer, info)
    if info.new_style:
        writer.update_attrs(ladder_rank=info.ladder_rank, steps=steps_record(info),
                            checkpoint=f"/checkpoints/{info.run_id}")
    writer.finalize()


def build_store(root: Path, runs: list[RunInfo] = RUNS) -> Path:
    """Write every fixture run into ``root``; returns it."""
    for info in runs:
        write_run(root, info)
    return root


@pytest.fixture(scope="session")
def dashboard_store(tmp_path_factory) -> str:
    """Path (str) of the session's fixture store; treat it as read-only."""
    return str(build_store(tmp_path_factory.mktemp("dashboard-store")))


@pytest.fixture(scope="session")
def dashboard_runs() -> dict[str, RunInfo]:
    """Run id -> RunInfo of the runs in ``dashboard_store``, in ladder order."""
    by_id = {info.run_id: info for info in RUNS}
    return {run_id: by_id[run_id] for run_id in LADDER}


def _load(name: str):
    """A helper module of this folder (``circuits_store``, ``fixture_attribution``)."""
    path = Path(__file__).parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_dashboard_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def steps_store(tmp_path_factory) -> str:
    """Runs zero, one, two written by the real bigram, embedding and circuit steps."""
    return _load("circuits_store").build_steps_store(tmp_path_factory.mktemp("steps-store"))


@pytest.fixture(scope="session")
def attribution_store(tmp_path_factory) -> str:
    """Runs gpt-2l and attn-only-2l written by the real attribution, neuron, patching steps."""
    root = tmp_path_factory.mktemp("attribution-store")
    _load("fixture_attribution").build_real_store(root)
    return str(root)


@pytest.fixture(scope="session")
def heads_store(tmp_path_factory) -> str:
    """Run ``circuit``: the hand-built induction circuit through the real heads and dynamics
    steps, with four step checkpoints (random weights before step 100, the circuit after)."""
    import torch

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
    writer = RunWriter.create(root / "store", run_id="circuit",
                              attrs={"config": circuit.cfg.to_dict()})
    writer.write("tokens", tokens.numpy().astype("int32"))
    for step in (heads, dynamics):
        step.run(ctx, step.Config(), writer)
    writer.finalize()
    return str(root / "store")
