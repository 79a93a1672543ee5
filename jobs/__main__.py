"""Command line: ``python -m jobs train | analyze | ladder`` (``--help`` on each).

Errors a user can fix (unknown rung, wrong path, empty corpus, a bad step setting, ...)
print one line and exit with status 2; nothing half-written is ever marked complete.
Arguments are checked here before torch is imported, so a typo costs a fraction of a
second, not the seconds an import of torch takes.

Examples:
    python -m jobs ladder --preset tiny --store-root lab-store
    python -m jobs train --model attn-only-2l --preset tiny --out checkpoints/tiny/attn-only-2l
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --steps heads \\
        --set heads.score_prompts=64
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --prompts my_prompts.txt
    python -m jobs analyze --list-steps
    python -m jobs sample --checkpoint checkpoints/tiny/gpt-4l --prompt "def " --temperature 0
    python -m jobs import --from my-gpt2 --out checkpoints/gpt2     # a save_pretrained directory
    python -m jobs export --checkpoint checkpoints/gpt2 --to my-gpt2-again
    python -m jobs ladder --rungs gpt2 --gpt2-dir my-gpt2
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from interp_core.models.gpt2_hf_config import GPT2_RUNG
from interp_core.models.ladder import RUNGS, XOR_RUNG
from jobs.errors import JobError
from jobs.presets import PRESETS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def _store_root(text: str) -> Path | str:
    """--store-root: a directory, or an fsspec URL kept as written (``s3://bucket/lab-store``;
    a Path would fold its ``//``); a ``file://`` URL is its local directory."""
    from store import location  # noqa: PLC0415 (store._fs: the standard library only)

    root = location(text)
    return root if isinstance(root, Path) else text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="Interpretability lab jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,analyze,ladder,import,export,finetune}")

    lad = sub.add_parser("ladder", help="train and analyse every rung into one store")
    lad.add_argument("--preset", default="tiny", help=f"one of {', '.join(PRESETS)} (default tiny)")
    lad.add_argument("--store-root", type=_store_root, default=Path("lab-store"),
                     help="store directory or fsspec URL (s3://bucket/lab-store)")
    lad.add_argument("--checkpoint-root", type=Path, default=None,
                     help="checkpoint directory (default <store-root>/../checkpoints; "
                          "./checkpoints for a URL store root)")
    lad.add_argument("--corpus", default=None, help="corpus name (stdlib, shakespeare) or a path")
    lad.add_argument("--device", default="auto", help="auto, cpu or cuda")
    lad.add_argument("--rungs", nargs="+", default=[XOR_RUNG, *RUNGS], help=f"subset of {', '.join((XOR_RUNG, *RUNGS, GPT2_RUNG))}")
    lad.add_argument("--seed", type=int, default=0)
    lad.add_argument("--gpt2-dir", type=Path, default=None,
                     help="GPT2LMHeadModel.save_pretrained directory for --rungs gpt2 (imported, not trained)")

    tr = sub.add_parser("train", help="train one rung and keep log-spaced checkpoints")
    tr.add_argument("--model", required=True, help=f"rung: one of {', '.join((XOR_RUNG, *RUNGS))}")
    tr.add_argument("--preset", default="tiny", help=f"one of {', '.join(PRESETS)}")
    tr.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    tr.add_argument("--corpus", default=None, help="corpus name (stdlib, shakespeare) or a path")
    tr.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the preset's)")
    tr.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tr.add_argument("--precision", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--act-fn", default=None,
                    help="xor-mlp only: hidden units, tanh (default) or sigmoid")
    tr.add_argument("--engine", default="torch",
                    help="torch (default) or glassbox: the NumPy model with hand-derived "
                         "gradients (docs/methods.md §14), on the CPU in float32")

    ft = sub.add_parser("finetune", help="fine-tune a checkpoint on a second corpus (LoRA or full)")
    ft.add_argument("--checkpoint", type=Path, required=True, help="base checkpoint directory")
    ft.add_argument("--corpus", required=True, help="corpus to fine-tune on: stdlib, shakespeare or a path")
    ft.add_argument("--method", default="lora", help="lora (adapters, base frozen) or full")
    ft.add_argument("--rank", type=int, default=4, help="LoRA rank r, per head for W_Q/W_K/W_V/W_O")
    ft.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default 2 x rank)")
    ft.add_argument("--targets", default="W_Q,W_V", help="LoRA matrices: W_Q,W_K,W_V,W_O,W_in,W_out")
    ft.add_argument("--steps", type=int, default=200, help="optimizer steps")
    ft.add_argument("--lr", type=float, default=None, help="peak learning rate (default: from the preset)")
    ft.add_argument("--seed", type=int, default=0)
    ft.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ft.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")

    an = sub.add_parser("analyze", help="analyse any checkpoint directory into a store run")
    an.add_argument("--checkpoint", type=Path, default=None, help="config.json + model.safetensors dir")
    an.add_argument("--store-root", type=_store_root, default=Path("lab-store"),
                    help="store directory or fsspec URL (s3://bucket/lab-store)")
    an.add_argument("--run-id", default=None, help="run name (default: checkpoint directory name)")
    an.add_argument("--device", default="auto", help="auto, cpu or cuda")
    an.add_argument("--steps", default=None,
                    help="comma-separated analysis steps to run (their needs are added); on a "
                         "complete run only these are rewritten (see --list-steps)")
    an.add_argument("--set", action="append", default=[], metavar="STEP.FIELD=VALUE",
                    help="a step setting, e.g. heads.score_prompts=64 (repeatable)")
    an.add_argument("--config", type=Path, default=None,
                    help="TOML file of step settings, one [step] table each (--set wins)")
    an.add_argument("--list-steps", action="store_true",
                    help="print every step, what it writes, what it needs and its settings")
    an.add_argument("--patching", type=Path, default=None,
                    help="prompt-pair file (TOML or JSON) with extra patching experiments")
    an.add_argument("--steering", type=Path, default=None, metavar="FILE",
                    help="contrast-pair file (TOML or JSON) for the steering step instead of the "
                         "corpus defaults (= --set steering.file=FILE)")
    an.add_argument("--prompts", type=Path, default=None, metavar="FILE",
                    help="your own prompts, one per line (or a .json list of strings): the "
                         "Attention page shows every head on them; on a complete run this adds "
                         "them without redoing anything else (= --set prompts.file=FILE)")
    an.add_argument("--corpus", default=None, help="corpus for evaluation prompts")
    an.add_argument("--overwrite", action="store_true",
                    help="replace a complete run with the same id (kept until the new one is complete)")
    an.add_argument("--seed", type=int, default=0)

    imp = sub.add_parser("import", help="convert a Hugging Face GPT-2 directory into our checkpoint")
    imp.add_argument("--from", dest="source", type=Path, required=True,
                     help="directory written by GPT2LMHeadModel.save_pretrained")
    imp.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    exp = sub.add_parser("export", help="write a checkpoint as a Hugging Face GPT-2 directory")
    exp.add_argument("--checkpoint", type=Path, required=True, help="our checkpoint directory")
    exp.add_argument("--to", type=Path, required=True, help="directory for GPT2LMHeadModel.from_pretrained")

    sa = sub.add_parser("sample", help="continue a prompt with a checkpoint (greedy or sampled)")
    sa.add_argument("--checkpoint", type=Path, required=True, help="config.json + model.safetensors dir")
    sa.add_argument("--prompt", default=None, help="text to continue (BOS is prepended)")
    sa.add_argument("--prompt-ids", default=None, metavar="'ID ID ...'",
                    help="the prompt as token ids instead (for checkpoints without a tokenizer)")
    sa.add_argument("--max-new-tokens", type=int, default=40, help="tokens to generate (default 40)")
    sa.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default 1.0)")
    sa.add_argument("--top-k", type=int, default=None, help="sample from the k most likely tokens")
    sa.add_argument("--top-p", type=float, default=None, help="nucleus sampling, p in (0, 1]")
    sa.add_argument("--seed", type=int, default=None, help="seed for reproducible samples")
    sa.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return parser


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise JobError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _check_dir_target(flag: str, path: Path) -> None:
    """A directory the job will create or fill: neither it nor any parent may be a file."""
    for part in [path, *path.parents]:
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == path else f"lies under the file {part}"
                raise JobError(f"{flag} {path} {what}; give a directory path")
            if not os.access(part, os.W_OK | os.X_OK):
                raise JobError(f"{flag} {path}: {part} is not writable; fix its permissions "
                               "or give another directory")
            return


def _check_store_root(root: Path | str) -> None:
    """A local store root is a directory target; a URL root is checked when the job opens it."""
    if isinstance(root, Path):
        _check_dir_target("--store-root", root)


def _check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise JobError(f"--seed {seed}: use a whole number from 0 to {2**32 - 1}")


def _check_xor_train(args: argparse.Namespace) -> None:
    """``train --model xor-mlp``: four points on the CPU in fp32, so no corpus, GPU or bf16."""
    _check_choice("preset", args.preset, tuple(PRESETS))
    _check_choice("--act-fn", args.act_fn or "tanh", ("tanh", "sigmoid"))
    for flag, value, ok, why in (
        ("--corpus", args.corpus, None, "it trains on the four XOR points"),
        ("--device", args.device, ("auto", "cpu"), "it trains on the CPU"),
        ("--precision", args.precision, ("auto", "fp32"), "it trains in fp32"),
    ):
        if value is not None and (ok is None or value not in ok):
            raise JobError(f"{flag} {value} makes no sense for --model {XOR_RUNG} ({why}); "
                           "leave it out")
    _check_seed(args.seed)
    if args.steps is not None and not 1 <= args.steps <= 10**6:
        raise JobError(f"--steps {args.steps}: the XOR MLP takes 1 to 10^6 optimizer steps")
    _check_dir_target("--out", args.out)


DISTRIBUTED_COMMANDS = ("train", "analyze")
"""The jobs that run as several processes under torchrun (README, "Past one machine")."""


def _check_launch(command: str) -> None:
    """Under torchrun only train and analyze split their work; every other job would run
    once per process, each writing the same files, so it is refused before it starts."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and command not in DISTRIBUTED_COMMANDS:
        raise JobError(f"jobs {command} runs as one process, but torchrun started {world}: "
                       f"run it as python -m jobs {command} (only "
                       f"{' and '.join(DISTRIBUTED_COMMANDS)} run under torchrun)")


def _check_train(args: argparse.Namespace) -> None:
    _check_choice("engine", args.engine, ("torch", "glassbox"))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and (args.engine == "glassbox"
                                                       or args.model == XOR_RUNG):
        raise JobError("under torchrun only --engine torch trains (a transformer rung, with "
                       "DistributedDataParallel); run this one as a single process")
    if args.engine == "glassbox" and (args.model == XOR_RUNG or args.device == "cuda"
                                      or args.precision == "bf16"):
        raise JobError("--engine glassbox trains a transformer rung on the CPU in float32; "
                       "drop --device cuda / --precision bf16, or use --engine torch")
    if args.model == XOR_RUNG:
        return _check_xor_train(args)
    if args.act_fn is not None:
        raise JobError(f"--act-fn is for --model {XOR_RUNG} only; a transformer rung's MLP "
                       "activation is part of its ModelConfig")
    _check_choice("rung", args.model, RUNGS)
    _check_choice("preset", args.preset, tuple(PRESETS))
    _check_choice("device", args.device, DEVICES)
    _check_choice("precision", args.precision, PRECISIONS)
    _check_seed(args.seed)
    if args.steps is not None and not 1 <= args.steps <= 10**9:
        raise JobError(f"--steps {args.steps}: give a number of optimizer steps from 1 to 10^9 "
                       "(or leave it out for the preset's)")
    _check_dir_target("--out", args.out)


def _check_ladder(args: argparse.Namespace) -> None:
    _check_choice("preset", args.preset, tuple(PRESETS))
    _check_choice("device", args.device, DEVICES)
    _check_seed(args.seed)
    unknown = [r for r in args.rungs if r not in (XOR_RUNG, *RUNGS, GPT2_RUNG)]
    if unknown:
        raise JobError(f"unknown rung(s) {', '.join(unknown)}; choose from {', '.join((XOR_RUNG, *RUNGS, GPT2_RUNG))}")
    if GPT2_RUNG in args.rungs:
        if args.gpt2_dir is None:
            raise JobError("--rungs gpt2 needs --gpt2-dir DIR: a directory written by "
                           "GPT2LMHeadModel.save_pretrained (nothing is downloaded)")
        _check_gpt2_source(args.gpt2_dir, "--gpt2-dir")
    _check_store_root(args.store_root)
    if args.checkpoint_root is not None:
        _check_dir_target("--checkpoint-root", args.checkpoint_root)


def _check_gpt2_source(path: Path, flag: str) -> None:
    """A Hugging Face GPT-2 directory: config, weight file and (safetensors) shapes, torch-free."""
    from interp_core.models.gpt2_hf_config import HFGPT2Error, inspect_hf_dir  # noqa: PLC0415

    try:
        inspect_hf_dir(path)
    except HFGPT2Error as err:
        raise JobError(f"{flag}: {err}") from None


def _check_import(args: argparse.Namespace) -> None:
    _check_gpt2_source(args.source, "--from")
    _check_dir_target("--out", args.out)
    if args.out.resolve() == args.source.resolve():
        raise JobError(f"--out {args.out} is the --from directory; write our checkpoint elsewhere")


def _check_export(args: argparse.Namespace) -> None:
    if not (args.checkpoint / "config.json").is_file():
        raise JobError(f"{args.checkpoint} has no config.json: not a checkpoint directory (--checkpoint)")
    _check_dir_target("--to", args.to)


def _analyze_settings(args: argparse.Namespace) -> tuple[tuple[str, ...] | None, dict[str, dict[str, Any]]]:
    """--steps, --config and --set checked and merged (torch-free: no step module is imported)."""
    from jobs.step_settings import SettingsError, load_toml, parse_set  # noqa: PLC0415
    from jobs.steps import UnknownStepError, check_names  # noqa: PLC0415

    try:
        steps = None
        if args.steps is not None:
            steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
            if not steps:
                raise JobError("--steps is empty; name at least one step (see --list-steps)")
            check_names(steps)
        settings = load_toml(args.config) if args.config is not None else {}
        for step, values in parse_set(args.set).items():
            settings.setdefault(step, {}).update(values)
        if args.steering is not None:
            settings.setdefault("steering", {}).setdefault("file", str(args.steering))
    except (SettingsError, UnknownStepError) as err:
        raise JobError(str(err)) from None
    return steps, settings


def _checkpoint_kind(checkpoint: Path) -> str | None:
    """The ``kind`` in a checkpoint's config.json, or None when it cannot be read here (the
    job itself then reports what is wrong with the file)."""
    import json  # noqa: PLC0415

    try:
        raw = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return raw.get("kind") if isinstance(raw, dict) else None


def _check_analyze(args: argparse.Namespace) -> None:
    if args.checkpoint is None:
        raise JobError("--checkpoint DIR is required (a directory with config.json and model.safetensors)")
    if not args.checkpoint.is_dir():
        raise JobError(f"no checkpoint directory at {args.checkpoint} (--checkpoint)")
    if not (args.checkpoint / "config.json").is_file():
        raise JobError(f"{args.checkpoint} has no config.json: not a checkpoint directory (--checkpoint)")
    text_inputs = [flag for flag, value in (("--prompts", args.prompts), ("--patching", args.patching),
                                             ("--steering", args.steering)) if value is not None]
    if text_inputs and _checkpoint_kind(args.checkpoint) == XOR_RUNG:
        raise JobError(f"{args.checkpoint} is an XOR network (four points, no text): "
                       f"{', '.join(text_inputs)} apply to transformer checkpoints only")
    if args.patching is not None and not args.patching.is_file():
        raise JobError(f"--patching {args.patching}: no such file")
    if args.steering is not None and not args.steering.is_file():
        raise JobError(f"--steering {args.steering}: no such file (a TOML or JSON contrast-pair file)")
    if args.prompts is not None and not args.prompts.is_file():
        raise JobError(f"--prompts {args.prompts}: no such file (one prompt per line, or a .json "
                       "list of strings)")
    if args.run_id is not None and (not args.run_id or len(args.run_id) > 200
                                    or any(c in args.run_id for c in "/\\") or args.run_id.startswith(".")):
        raise JobError(f"--run-id {args.run_id!r}: use a plain name of at most 200 characters "
                       "(no '/', not starting with '.')")
    _check_choice("device", args.device, DEVICES)
    _check_seed(args.seed)
    _check_store_root(args.store_root)


def _run(args: argparse.Namespace) -> None:
    """Check the arguments (cheap), then import the job (torch) and run it."""
    _check_launch(args.command)
    if args.command == "ladder":
        _check_ladder(args)
        from jobs.run_ladder import LadderConfig, ladder  # noqa: PLC0415

        ladder(LadderConfig(preset=args.preset, store_root=args.store_root,
                            checkpoint_root=args.checkpoint_root, corpus=args.corpus,
                            device=args.device, rungs=tuple(args.rungs), seed=args.seed,
                            gpt2_dir=args.gpt2_dir))  # fmt: skip
    elif args.command == "import":
        _check_import(args)
        from jobs.import_gpt2 import import_gpt2  # noqa: PLC0415

        import_gpt2(args.source, args.out)
    elif args.command == "export":
        _check_export(args)
        from jobs.import_gpt2 import export_gpt2  # noqa: PLC0415

        export_gpt2(args.checkpoint, args.to)
    elif args.command == "train":
        _check_train(args)
        if args.model == XOR_RUNG:
            from jobs.train_xor import XorTrainConfig, train_xor  # noqa: PLC0415

            steps = {"steps": args.steps} if args.steps is not None else {}
            train_xor(XorTrainConfig(out=args.out, seed=args.seed, preset=args.preset,
                                     act_fn=args.act_fn or "tanh", **steps))
            return
        if args.engine == "glassbox":
            from jobs.train_glassbox import train_glassbox  # noqa: PLC0415
            from jobs.train_model import TrainConfig  # noqa: PLC0415

            train_glassbox(TrainConfig(model=args.model, preset=args.preset, out=args.out,
                                       corpus=args.corpus, steps=args.steps, seed=args.seed))
            return
        from jobs.train_model import TrainConfig, train  # noqa: PLC0415

        train(TrainConfig(model=args.model, preset=args.preset, out=args.out, corpus=args.corpus,
                          steps=args.steps, seed=args.seed, device=args.device,
                          precision=args.precision))  # fmt: skip
    elif args.command == "finetune":
        from jobs.finetune import FinetuneConfig, check, finetune  # noqa: PLC0415  (torch-free)

        ft_cfg = FinetuneConfig(checkpoint=args.checkpoint, corpus=args.corpus, out=args.out,
                                method=args.method, rank=args.rank, alpha=args.alpha,
                                targets=tuple(t.strip() for t in args.targets.split(",") if t.strip()),
                                steps=args.steps, lr=args.lr, seed=args.seed, device=args.device)  # fmt: skip
        _check_choice("device", args.device, DEVICES)
        _check_dir_target("--out", args.out)
        check(ft_cfg)
        finetune(ft_cfg)
    elif args.command == "sample":
        _check_choice("device", args.device, DEVICES)
        from jobs.sample_text import SampleConfig, prepare, sample  # noqa: PLC0415  (torch-free)

        prepared = prepare(SampleConfig(
            checkpoint=args.checkpoint, prompt=args.prompt, prompt_ids=args.prompt_ids,
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
            top_p=args.top_p, seed=args.seed, device=args.device))  # fmt: skip
        print(sample(prepared))
    elif args.list_steps:
        from jobs.step_settings import describe_steps  # noqa: PLC0415

        print(describe_steps())
    else:
        steps, settings = _analyze_settings(args)
        _check_analyze(args)
        from jobs.analyze_model import AnalyzeConfig, analyze  # noqa: PLC0415

        analyze(AnalyzeConfig(checkpoint=args.checkpoint, store_root=args.store_root,
                              run_id=args.run_id, device=args.device, patching=args.patching,
                              prompts=args.prompts, corpus=args.corpus, seed=args.seed,
                              overwrite=args.overwrite, steps=steps,
                              settings=settings))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one job; returns the exit status."""
    args = _parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    try:
        _run(args)
    except JobError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume (complete runs are kept)", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in _DISK_ERRNOS:
            raise
        print(f"error: {_disk_message(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # the libraries' own user errors, imported only once torch is in
        if not _is_user_error(err):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG}
"""Write failures the user fixes outside the program (space, permissions, a read-only mount)."""


def _disk_message(err: OSError) -> str:
    """One line for a failed write: what failed where, and what to do about it."""
    name = str(err.filename or "")
    where = f" at {name if len(name) <= 120 else name[:120] + '...'}" if name else ""
    fix = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
           errno.ENAMETOOLONG: "use a shorter path"}.get(err.errno, "choose a writable directory")
    return (f"{err.strerror or err}{where}: {fix} and re-run the same command "
            "(incomplete runs are never marked complete)")


def _is_user_error(err: Exception) -> bool:
    from interp_core.config import ConfigError  # noqa: PLC0415
    from interp_core.corpora import CorpusError  # noqa: PLC0415
    from interp_core.models.checkpoint import CheckpointError  # noqa: PLC0415
    from interp_core.tokenizers import TokenizerError  # noqa: PLC0415
    from store import StoreError  # noqa: PLC0415

    return isinstance(err, (StoreError, ConfigError, CorpusError, CheckpointError, TokenizerError))


if __name__ == "__main__":
    sys.exit(main())
