"""Analyse one checkpoint into a store run: every analysis step of ``jobs.steps``, or some.

Examples:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --run-id tiny-attn-only-2l --steps heads,circuits --set heads.score_prompts=64
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \
        --prompts my_prompts.txt          # adds your own prompts to the complete run
    python -m jobs analyze --list-steps

Any checkpoint directory works (``config.json`` + ``model.safetensors`` with
TransformerLens keys): ours, an imported GPT-2, or hand-set weights. What the checkpoint
knows decides what the run holds: a ``training.json`` adds the loss curve and training
dynamics; a tokenizer adds readable tokens and natural-text prompts (without one, prompts
are random tokens and tokens are shown as ids). An ``imported.json`` (``python -m jobs
import`` writes one) names the analysis profile the settings start from (an imported GPT-2:
``gpt2``, sized for GPT-2 small on 2 CPU cores; ``jobs.presets.ANALYSIS_PROFILES``) instead
of the training preset's.

Three ways a run is written, all crash-safe (``store.RunWriter``):

- a new run: every array, then ``status="complete"``, then consolidated metadata; a run
  interrupted half-way is never listed and re-running restarts it cleanly;
- ``--steps a,b`` on a complete run: only those steps' groups are rewritten (with any step
  whose output refers to theirs), on a copy swapped in when complete;
- ``--overwrite``: a whole new run built beside the old one and swapped in when complete.

The run's root attr ``steps`` records, per step, its settings, what it writes, and whether
it ran or was skipped (and why); pages decide what to show from it. The root attr
``findings`` holds what each step found, in words (``jobs.findings``): ``{step: [{"text",
"kind", "refs"}, ...]}``. Both are merged on a rewrite: only the re-run steps' entries change.

``--prompts FILE`` (one prompt per line, or a .json list of strings) runs the ``prompts``
step on the user's prompts; on a complete run it adds them and redoes nothing else.

The analysis dispatches on the checkpoint's kind: a step runs on the kinds its module's
``KINDS`` names (transformers when absent) and is recorded as skipped, with a reason, on the
others. An XOR MLP (kind ``xor-mlp``) gets an ``XorContext`` and only the ``xor`` step runs
on it (docs/methods.md §15); on a transformer the ``xor`` step is skipped.

Under ``torchrun`` (``python -m torch.distributed.run --standalone --nproc-per-node N -m jobs
analyze ...``) the steps marked ``SPLIT`` share the prompts out over the processes and the
others run on rank 0 alone; rank 0 creates, records and completes the run
(``jobs/distributed.py``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from interp_core.config import ModelConfig
from interp_core.distributed import Ranks, launched, process_group
from interp_core.models.checkpoint import (
    TRANSFORMER,
    CheckpointError,
    checkpoint_kind,
    load_checkpoint,
    read_config,
)
from interp_core.models.ladder import LADDER_ORDER
from interp_core.prompts import RepeatedTokens, default_pool, frequent_pool, repeated_random_tokens, text_windows
from interp_core.tokenizers import Tokenizer, TokenizerError, load_tokenizer
from jobs._common import JobError, provenance, resolve_device, seed_everything, use_all_cores
from jobs.analysis_context import XOR_KIND, AnalysisContext, StepCheckpoint, XorContext
from jobs.data import prepare_data
from jobs.distributed import is_main, shared_writer, step_writer
from jobs.findings import Finding
from jobs.presets import ANALYSIS_PROFILES, IMPORT_FILE, PRESETS, TrainPreset, profile_preset
from jobs.step_settings import SettingsError, build_config, settings_dict
from jobs.steps import STEP_NAMES, Skipped, UnknownStepError, check_names, load_step, resolve_steps
from jobs.train_model import TRAINING_FILE
from store import RunWriter, StoreError, open_store


@dataclasses.dataclass(frozen=True)
class AnalyzeConfig:
    """Analyse one checkpoint into one store run."""

    checkpoint: Path
    """Checkpoint directory (config.json + model.safetensors)."""
    store_root: Path | str = Path("lab-store")
    """Store root (a path or an fsspec URL, s3://...); the run is <store_root>/<run_id>.zarr."""
    run_id: str | None = None
    """Run name; defaults to the checkpoint directory's name."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda'."""
    patching: Path | None = None
    """Optional prompt-pair file (TOML or JSON) with user patching experiments (= patching.file)."""
    prompts: Path | None = None
    """Optional file of the user's own prompts, one per line or a JSON list (= prompts.file); on a
    complete run it adds them without redoing anything else."""
    corpus: str | None = None
    """Corpus for evaluation prompts when the checkpoint does not name one."""
    seed: int = 0
    """Seeds prompt sampling."""
    overwrite: bool = False
    """Replace a complete run with the same id (the old one is kept until the new one is complete)."""
    steps: tuple[str, ...] | None = None
    """Steps to run (their needs are added); None runs all. On a complete run, rewrites only these."""
    settings: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Step settings {step: {field: value}} from --config and --set (later layers already merged)."""


@dataclasses.dataclass(frozen=True)
class _Checkpoint:
    """What the checkpoint directory says, read without building the model."""

    path: Path
    model_cfg: ModelConfig
    raw: dict[str, Any]
    record: dict[str, Any] | None
    tokenizer: Tokenizer | None
    preset_name: str
    profile: str | None = None
    """The analysis profile its importer named (``jobs.presets.ANALYSIS_PROFILES``), or None."""


def _read_checkpoint(checkpoint: Path) -> _Checkpoint:
    try:
        model_cfg, raw = read_config(checkpoint)
    except CheckpointError as err:
        raise JobError(str(err)) from None
    record = None
    if (checkpoint / TRAINING_FILE).exists():
        try:
            record = json.loads((checkpoint / TRAINING_FILE).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
            raise JobError(f"{checkpoint / TRAINING_FILE} is unreadable ({err}); delete it "
                           "(the run loses its loss curve) or re-train") from None
    tok = None
    if model_cfg.tokenizer:
        try:
            tok = load_tokenizer(model_cfg.tokenizer, checkpoint_dir=checkpoint)
        except TokenizerError as err:
            raise JobError(f"cannot load the tokenizer of {checkpoint}: {err}") from None
        if tok.d_vocab != model_cfg.d_vocab:
            raise JobError(f"tokenizer has {tok.d_vocab} tokens but the model's d_vocab is {model_cfg.d_vocab}")
    profile = _import_profile(checkpoint)
    preset = (record or {}).get("summary", {}).get("preset") or raw.get("preset") or profile or "tiny"
    return _Checkpoint(checkpoint, model_cfg, raw, record, tok, preset, profile)


def _import_profile(checkpoint: Path) -> str | None:
    """The analysis profile an imported checkpoint's :data:`~jobs.presets.IMPORT_FILE` names."""
    path = checkpoint / IMPORT_FILE
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text(encoding="utf-8")).get("analysis_profile")
    except (json.JSONDecodeError, UnicodeDecodeError, OSError, AttributeError) as err:
        raise JobError(f"{path} is unreadable ({err}); delete it (the default analysis settings "
                       "apply) or import the model again") from None
    if name is not None and name not in ANALYSIS_PROFILES:
        raise JobError(f"{path} names the analysis profile {name!r}; known profiles are "
                       f"{', '.join(ANALYSIS_PROFILES)}")
    return name


def _default_preset(ckpt: _Checkpoint) -> TrainPreset:
    """Settings a checkpoint gets before --config/--set: its importer's profile (an imported
    GPT-2: ``gpt2``), else its training preset's (tiny when it names none)."""
    if ckpt.profile is not None:
        return profile_preset(ckpt.profile)
    return PRESETS.get(ckpt.preset_name, PRESETS["tiny"])


def _step_configs(cfg: AnalyzeConfig, preset: TrainPreset, plan: list[str], ckpt: _Checkpoint) -> dict[str, Any]:
    """Each planned step's Config: defaults < preset < --config/--set; then the steps' checks."""
    user = {step: dict(values) for step, values in cfg.settings.items()}
    if cfg.patching is not None:
        user.setdefault("patching", {})["file"] = cfg.patching
    if cfg.prompts is not None:
        user.setdefault("prompts", {})["file"] = cfg.prompts
    defaults = preset.analysis_defaults()
    try:
        check_names(list(user))
        configs = {step: build_config(step, defaults.get(step, {}), user.get(step, {})) for step in plan}
        for step in user:  # settings for steps that do not run are still checked
            if step not in configs:
                build_config(step, defaults.get(step, {}), user[step])
    except (SettingsError, UnknownStepError) as err:
        raise JobError(str(err)) from None
    for step, step_cfg in configs.items():
        check = getattr(load_step(step), "check", None)
        if check is not None:
            check(step_cfg, ckpt.model_cfg, ckpt.tokenizer)
    return configs


def _eval_prompts(cfg: AnalyzeConfig, ckpt: _Checkpoint, n_prompts: int, length: int
                  ) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray | None, dict]:
    """Natural-text prompts from the corpus's validation split, or random tokens without a tokenizer."""
    tok, model_cfg = ckpt.tokenizer, ckpt.model_cfg
    length = min(length, model_cfg.n_ctx)
    if tok is None:
        gen = torch.Generator().manual_seed(cfg.seed)
        tokens = torch.randint(0, model_cfg.d_vocab, (n_prompts, length), generator=gen)
        return tokens, None, None, {"prompts": "random tokens (the checkpoint has no tokenizer)"}
    data_meta = (ckpt.record or {}).get("summary", {}).get("data", {})
    corpus = cfg.corpus or data_meta.get("corpus") or "stdlib"
    spec = tok.to_config()
    build = {"name": spec["name"], **({"k": spec["k"]} if spec["name"] == "gpt2-compact" else {})}
    data = prepare_data(corpus, build, max_chars=data_meta.get("max_chars"))
    if spec["name"] in ("gpt2-compact", "char") and data.tokenizer.to_config() != spec:
        from interp_core.corpora import encode_documents, load_corpus  # noqa: PLC0415

        # another corpus built another vocabulary: encode its text with the checkpoint's
        split = load_corpus(corpus, max_chars=data_meta.get("max_chars")).split(0.1)
        train, val = encode_documents(split.train, tok), encode_documents(split.val, tok)
    else:
        train, val = data.train, data.val
    tokens = text_windows(val, n_prompts=n_prompts, length=length, bos_id=tok.bos_id, seed=cfg.seed)
    return tokens, train, val, {"prompts": f"natural text: validation split of {corpus!r}", "corpus": corpus,
                                "max_chars": data_meta.get("max_chars")}


def _rrt(ckpt: _Checkpoint, train: np.ndarray | None, tokens_cfg: Any, seed: int) -> RepeatedTokens:
    tok, model_cfg = ckpt.tokenizer, ckpt.model_cfg
    bos = tok.bos_id if tok is not None else 0
    special = [bos] + ([tok.to_config()["unk_id"]] if tok is not None and "unk_id" in tok.to_config() else [])
    pool = frequent_pool(train, 2000, special=special) if train is not None else default_pool(model_cfg.d_vocab, special=special)
    n = min(tokens_cfg.rrt_n, (model_cfg.n_ctx - 1) // 2, len(pool))
    return repeated_random_tokens(n=n, batch=tokens_cfg.rrt_batch, pool=pool, bos_id=bos, seed=seed)


def _context(cfg: AnalyzeConfig, ckpt: _Checkpoint, tokens_cfg: Any, device: torch.device,
             run_id: str, ranks: Ranks) -> tuple[AnalysisContext, dict]:
    try:
        model = load_checkpoint(ckpt.path, device=device)
    except CheckpointError as err:
        raise JobError(str(err)) from None
    tokens, train, val, prompt_meta = _eval_prompts(cfg, ckpt, tokens_cfg.n_prompts, tokens_cfg.prompt_len)
    tok = ckpt.tokenizer
    step_ckpts = [
        StepCheckpoint(c["step"], c["tokens_seen"], ckpt.path / c["path"])
        for c in (ckpt.record or {}).get("checkpoints", [])
        if (ckpt.path / c["path"] / "model.safetensors").exists()
    ]
    ctx = AnalysisContext(
        run_id=run_id, model=model, device=device, eval_tokens=tokens,
        rrt=_rrt(ckpt, train, tokens_cfg, cfg.seed), bos_id=tok.bos_id if tok is not None else 0,
        token_strs=tok.token_strs() if tok is not None else [str(i) for i in range(ckpt.model_cfg.d_vocab)],
        checkpoint_dir=ckpt.path, step_checkpoints=step_ckpts, train_stream=train, val_stream=val,
        training_record=ckpt.record, tokenizer=tok, preset=ckpt.preset_name,
        corpus=prompt_meta.get("corpus"), corpus_max_chars=prompt_meta.get("max_chars"),
        ranks=ranks,
    )  # fmt: skip
    return ctx, prompt_meta | {"n_prompts": int(tokens.shape[0]), "prompt_len": int(tokens.shape[1])}


def _run_attrs(ckpt: _Checkpoint, ctx: AnalysisContext, prompt_meta: dict, device: torch.device,
               seed: int) -> dict[str, Any]:
    model_cfg, tok = ckpt.model_cfg, ckpt.tokenizer
    summary = (ckpt.record or {}).get("summary", {})
    rung = summary.get("rung", ckpt.raw.get("rung", ckpt.path.name))
    slim_tok = {k: v for k, v in (model_cfg.tokenizer or {}).items() if k != "id_map"}
    return {
        "config": model_cfg.to_dict() | {"tokenizer": slim_tok},
        "tokenizer": {k: v for k, v in (tok.to_config() if tok else {}).items() if k not in ("id_map", "alphabet")},
        "training": summary, "rung": rung, "preset": ckpt.preset_name, "n_params": ctx.model.n_params,
        "checkpoint": str(ckpt.path.resolve()), "prompts": prompt_meta, "rrt": ctx.rrt.meta,
        "provenance": provenance(device, seed),
        **({"ladder_rank": LADDER_ORDER.index(rung)} if rung in LADDER_ORDER else {}),
    }  # fmt: skip


def _present_steps(run: Any) -> set[str]:
    """Steps a complete run already holds: its record, else (older runs) what its arrays show."""
    recorded = set((run.attrs.get("steps") or {}).keys()) & set(STEP_NAMES)
    arrays = run.arrays()
    for name in STEP_NAMES:
        owned = load_step(name).WRITES
        if any(a == o or (o.endswith("/") and a.startswith(o)) for a in arrays for o in owned):
            recorded.add(name)
    return recorded


def _rewrite_plan(asked: list[str], present: set[str]) -> list[str]:
    """``asked`` plus missing needs, plus every present step whose output refers to theirs."""
    plan = set(resolve_steps(asked, present=present))
    grew = True
    while grew:
        grew = False
        for name in present - plan:
            if set(load_step(name).NEEDS) & plan:
                plan.add(name)
                grew = True
    return [n for n in STEP_NAMES if n in plan]


def _same_prompts(run: Any, ctx: AnalysisContext) -> None:
    """A rewrite that keeps the stored prompts must compute on exactly those prompts."""
    for name, tokens in (("tokens", ctx.eval_tokens), ("rrt/tokens", ctx.rrt.tokens)):
        if run.has(name) and not np.array_equal(run.read(name).values, tokens.numpy()):
            raise JobError(f"run {ctx.run_id!r} was analysed on other prompts ({name} differ: "
                           "another --seed, --corpus or tokens setting); use the run's own, or "
                           "add tokens to --steps to redo everything that depends on them")


def _prompts_file_given(cfg: AnalyzeConfig) -> bool:
    """True when the user named a prompts file (--prompts, or --set / --config prompts.file)."""
    value = cfg.settings.get("prompts", {}).get("file")
    named = value is not None and str(value).lower() not in ("", "none", "null")
    return cfg.prompts is not None or named


def _asked_steps(cfg: AnalyzeConfig, *, complete: bool) -> tuple[str, ...] | None:
    """The steps asked for: a prompts file adds the prompts step, and on a complete run
    ``--prompts FILE`` alone adds the prompts to it (rewrites only ``prompts/``)."""
    steps = cfg.steps
    if not _prompts_file_given(cfg):
        return steps
    if steps is None:
        return ("prompts",) if complete else None
    return steps if "prompts" in steps else (*steps, "prompts")


def _run_steps(ctx: AnalysisContext, plan: list[str], configs: dict[str, Any], writer: RunWriter,
               seed: int, progress: bool) -> tuple[dict[str, dict[str, Any]], dict[str, list]]:
    """Run each step of ``plan``; returns its ``steps`` record and its findings by step."""
    record: dict[str, dict[str, Any]] = {}
    findings: dict[str, list[dict]] = {}
    bar = tqdm(plan, desc=f"analyze {ctx.run_id}", unit="step",
               disable=not (progress and is_main(writer)))
    for name in bar:
        bar.set_postfix(step=name)
        module, t0 = load_step(name), time.perf_counter()
        here = step_writer(writer, module)
        if here is None:
            continue  # under torchrun this step runs on rank 0 alone
        seed_everything(seed)  # each step sees the same RNG state, whatever ran before it
        outcome = (module.run(ctx, configs[name], here) if ctx.kind in _kinds(module)
                   else Skipped(NOT_FOR_KIND[ctx.kind]))
        skipped = outcome if isinstance(outcome, Skipped) else None
        record[name] = {"settings": settings_dict(configs[name]), "writes": list(module.WRITES),
                        "status": "skipped" if skipped else "done",
                        "reason": skipped.reason if skipped else None,
                        "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
        if outcome is not None and not skipped:
            findings[name] = [_finding_dict(name, f) for f in outcome]
    return record, findings


def _finding_dict(step: str, finding: Any) -> dict[str, Any]:
    if not isinstance(finding, Finding):
        raise TypeError(f"step {step!r} returned {finding!r}; run() returns findings "
                        "(jobs.findings.Finding), Skipped or None")
    return finding.to_dict()


def merge_findings(old: dict[str, list] | None, ran: list[str], new: dict[str, list]
                   ) -> dict[str, list]:
    """The run's ``findings`` attr after ``ran`` steps ran: their keys replaced, the rest kept.

    A step that ran and had nothing to say (or was skipped) loses its old findings; steps
    that did not run keep theirs. Keys follow the run order of ``STEP_NAMES``.

    Examples:
        >>> merge_findings({"heads": ["a"], "circuits": ["b"]}, ["heads"], {})
        {'circuits': ['b']}
    """
    kept = {k: v for k, v in (old or {}).items() if k not in ran}
    merged = kept | {k: v for k, v in new.items() if v}
    order = [*STEP_NAMES, *sorted(set(merged) - set(STEP_NAMES))]
    return {k: merged[k] for k in order if k in merged}


def analyze(cfg: AnalyzeConfig, *, preset: TrainPreset | None = None, progress: bool = True) -> Path:
    """Analyse ``cfg.checkpoint`` into ``<store_root>/<run_id>.zarr``; returns the run path."""
    started = time.perf_counter()
    try:
        check_names(list(cfg.steps or ()))
    except UnknownStepError as err:
        raise JobError(str(err)) from None
    checkpoint = Path(cfg.checkpoint)
    if _kind(checkpoint) == XOR_KIND:
        if launched():
            raise JobError(f"{checkpoint} holds an XOR MLP (four points): analyse it as one "
                           "process, without torchrun")
        return _analyze_xor(cfg, checkpoint, preset, started, progress)
    ckpt = _read_checkpoint(checkpoint)
    run_id = cfg.run_id or checkpoint.name
    preset = preset or _default_preset(ckpt)
    old = _complete_run(cfg.store_root, run_id)
    asked = _asked_steps(cfg, complete=old is not None and not cfg.overwrite)
    rewrite = old is not None and asked is not None and not cfg.overwrite
    if old is not None and not rewrite and not cfg.overwrite:
        raise JobError(f"run {run_id!r} is already complete in {cfg.store_root}: pass --overwrite "
                       "to replace it (the old run is kept until the new one is complete), "
                       "--steps NAME,... to redo some steps, or another --run-id")
    plan = (_rewrite_plan(list(asked), _present_steps(old)) if rewrite
            else resolve_steps(asked or STEP_NAMES))
    if rewrite and "prompts" in plan and "prompts" not in asked:
        plan.remove("prompts")  # redone only for vocab: keep the user's prompts (same checkpoint)
    configs = _step_configs(cfg, preset, sorted(set(plan) | {"tokens"}), ckpt)
    use_all_cores()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    with process_group(device.type) as ranks:
        device = ranks.device(device)
        with ranks.main_first():  # rank 0 fills the token cache; the others read it
            ctx, prompt_meta = _context(cfg, ckpt, configs["tokens"], device, run_id, ranks)
        if rewrite and "tokens" not in plan:
            _same_prompts(old, ctx)

        def make() -> RunWriter:
            try:
                if rewrite:
                    return RunWriter.rewrite(cfg.store_root, run_id=run_id,
                                             groups=[g for n in plan for g in load_step(n).WRITES])
                return RunWriter.create(cfg.store_root, run_id=run_id, overwrite=cfg.overwrite,
                                        attrs=_run_attrs(ckpt, ctx, prompt_meta, device, cfg.seed))
            except StoreError as err:
                raise JobError(str(err)) from None

        writer = shared_writer(ranks, make, cfg.store_root, run_id)
        record, found = _run_steps(ctx, plan, configs, writer, cfg.seed, progress)
        if not is_main(writer):
            return writer.finalize()  # waits for every rank; rank 0 completes the run
        return _finish(writer, old if rewrite else None, plan, record, found, device, cfg.seed,
                       started, checkpoint)


def _finish(writer: RunWriter, old: Any, plan: list[str], record: dict[str, dict[str, Any]],
            found: dict[str, list], device: torch.device, seed: int, started: float,
            checkpoint: Path) -> Path:
    """Merge the steps record and findings (into ``old``'s on a rewrite), mark the run
    complete and return its path."""
    rewrite = old is not None
    steps = ({**(old.attrs.get("steps") or {})} if rewrite else {}) | record
    findings = merge_findings(old.attrs.get("findings") if rewrite else None, plan, found)
    analysis = {"wall_time_s": time.perf_counter() - started,
                "step_seconds": {n: r["seconds"] for n, r in steps.items()},
                "steps": [n for n in STEP_NAMES if n in steps]}  # fmt: skip
    extra = {"rewrites": [*old.attrs.get("rewrites", []), {"steps": plan, "argv": provenance(device, seed)["argv"]}]} if rewrite else {}
    writer.update_attrs(steps=steps, findings=findings, analysis=analysis, **extra)
    path = writer.finalize()
    print(f"analysed {checkpoint} -> {path} ({', '.join(plan)}) in {time.perf_counter() - started:.1f}s")
    return path


def _complete_run(root: Path, run_id: str) -> Any:
    """The complete run ``run_id`` under ``root``, or None."""
    try:
        store = open_store(root)
        return store.run(run_id) if run_id in store.runs() else None
    except StoreError:
        return None


# --------------------------------------------------------------- other checkpoint kinds
NOT_FOR_KIND = {
    TRANSFORMER: "it analyses XOR MLP checkpoints (kind xor-mlp) and this is a transformer",
    XOR_KIND: "the XOR MLP is not a transformer: it has no tokens, attention heads, neurons "
              "on text or residual stream",
}
"""Checkpoint kind -> why a step that does not analyse that kind is skipped on it."""


def _kinds(module: Any) -> tuple[str, ...]:
    """The checkpoint kinds a step module analyses (``KINDS``; transformers when absent)."""
    return getattr(module, "KINDS", (TRANSFORMER,))


def _kind(checkpoint: Path) -> str:
    try:
        return checkpoint_kind(checkpoint)
    except CheckpointError as err:
        raise JobError(str(err)) from None


def _training_record(checkpoint: Path) -> dict[str, Any] | None:
    path = checkpoint / TRAINING_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise JobError(f"{path} is unreadable ({err}); re-train the checkpoint") from None


def _xor_configs(cfg: AnalyzeConfig, preset: TrainPreset, plan: list[str]) -> dict[str, Any]:
    """Each planned step's Config (defaults < preset < --config/--set); every setting given
    is checked, also for the steps an XOR MLP skips."""
    defaults = preset.analysis_defaults()
    try:
        check_names(list(cfg.settings))
        configs = {step: build_config(step, defaults.get(step, {}), cfg.settings.get(step, {}))
                   for step in {*plan, *cfg.settings}}
    except (SettingsError, UnknownStepError) as err:
        raise JobError(str(err)) from None
    return {step: configs[step] for step in plan}


def _xor_attrs(model: Any, checkpoint: Path, record: dict[str, Any] | None, preset: str,
               seed: int) -> dict[str, Any]:
    summary = (record or {}).get("summary", {})
    return {"config": model.cfg.to_dict(), "kind": XOR_KIND, "training": summary,
            "rung": XOR_KIND, "preset": preset, "n_params": model.n_params,
            "checkpoint": str(checkpoint.resolve()),
            "provenance": provenance(torch.device("cpu"), seed),
            "ladder_rank": LADDER_ORDER.index(XOR_KIND)}  # fmt: skip


def _analyze_xor(cfg: AnalyzeConfig, checkpoint: Path, preset: TrainPreset | None,
                 started: float, progress: bool) -> Path:
    """``analyze`` for an XOR MLP checkpoint: the steps that analyse it run, the
    transformer steps are recorded as skipped (docs/methods.md §15)."""
    if cfg.patching is not None or _prompts_file_given(cfg):
        raise JobError(f"{checkpoint} holds an XOR MLP (kind xor-mlp), which reads no text: "
                       "--patching and --prompts need a transformer checkpoint")
    try:
        model = load_checkpoint(checkpoint, device="cpu")
    except CheckpointError as err:
        raise JobError(str(err)) from None
    record = _training_record(checkpoint)
    preset_name = (record or {}).get("summary", {}).get("preset") or "tiny"
    preset = preset or PRESETS.get(preset_name, PRESETS["tiny"])
    run_id = cfg.run_id or checkpoint.name
    old = _complete_run(cfg.store_root, run_id)
    rewrite = old is not None and cfg.steps is not None and not cfg.overwrite
    if old is not None and not rewrite and not cfg.overwrite:
        raise JobError(f"run {run_id!r} is already complete in {cfg.store_root}: pass --overwrite "
                       "to replace it, --steps NAME,... to redo some steps, or another --run-id")
    plan = (_rewrite_plan(list(cfg.steps), _present_steps(old)) if rewrite
            else resolve_steps(cfg.steps or STEP_NAMES))
    configs = _xor_configs(cfg, preset, plan)
    torch.set_num_threads(1)  # four points and small grids: threads cost more than they give
    seed_everything(cfg.seed)
    ctx = XorContext(run_id=run_id, model=model, checkpoint_dir=checkpoint,
                     training_record=record, preset=preset_name)
    try:
        if rewrite:
            writer = RunWriter.rewrite(cfg.store_root, run_id=run_id,
                                       groups=[g for n in plan for g in load_step(n).WRITES])
        else:
            writer = RunWriter.create(cfg.store_root, run_id=run_id, overwrite=cfg.overwrite,
                                      attrs=_xor_attrs(model, checkpoint, record, preset_name,
                                                       cfg.seed))
    except StoreError as err:
        raise JobError(str(err)) from None
    steps, found = _run_steps(ctx, plan, configs, writer, cfg.seed, progress)
    return _finish(writer, old if rewrite else None, plan, steps, found, torch.device("cpu"),
                   cfg.seed, started, checkpoint)
