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
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from interp_core.models.ladder import RUNGS
from jobs.errors import JobError
from jobs.presets import PRESETS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="Interpretability lab jobs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,analyze,ladder}")

    lad = sub.add_parser("ladder", help="train and analyse every rung into one store")
    lad.add_argument("--preset", default="tiny", help=f"one of {', '.join(PRESETS)} (default tiny)")
    lad.add_argument("--store-root", type=Path, default=Path("lab-store"), help="store directory")
    lad.add_argument("--checkpoint-root", type=Path, default=None,
                     help="checkpoint directory (default <store-root>/../checkpoints)")
    lad.add_argument("--corpus", default=None, help="corpus name (stdlib, shakespeare) or a path")
    lad.add_argument("--device", default="auto", help="auto, cpu or cuda")
    lad.add_argument("--rungs", nargs="+", default=list(RUNGS), help=f"subset of {', '.join(RUNGS)}")
    lad.add_argument("--seed", type=int, default=0)

    tr = sub.add_parser("train", help="train one rung and keep log-spaced checkpoints")
    tr.add_argument("--model", required=True, help=f"rung: one of {', '.join(RUNGS)}")
    tr.add_argument("--preset", default="tiny", help=f"one of {', '.join(PRESETS)}")
    tr.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    tr.add_argument("--corpus", default=None, help="corpus name (stdlib, shakespeare) or a path")
    tr.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the preset's)")
    tr.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tr.add_argument("--precision", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), fp32, bf16")
    tr.add_argument("--seed", type=int, default=0)

    an = sub.add_parser("analyze", help="analyse any checkpoint directory into a store run")
    an.add_argument("--checkpoint", type=Path, default=None, help="config.json + model.safetensors dir")
    an.add_argument("--store-root", type=Path, default=Path("lab-store"), help="store directory")
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
    an.add_argument("--prompts", type=Path, default=None, metavar="FILE",
                    help="your own prompts, one per line (or a .json list of strings): the "
                         "Attention page shows every head on them; on a complete run this adds "
                         "them without redoing anything else (= --set prompts.file=FILE)")
    an.add_argument("--corpus", default=None, help="corpus for evaluation prompts")
    an.add_argument("--overwrite", action="store_true",
                    help="replace a complete run with the same id (kept until the new one is complete)")
    an.add_argument("--seed", type=int, default=0)
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
            return


def _check_seed(seed: int) -> None:
    if not 0 <= seed < 2**32:
        raise JobError(f"--seed {seed}: use a whole number from 0 to {2**32 - 1}")


def _check_train(args: argparse.Namespace) -> None:
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
    unknown = [r for r in args.rungs if r not in RUNGS]
    if unknown:
        raise JobError(f"unknown rung(s) {', '.join(unknown)}; choose from {', '.join(RUNGS)}")
    _check_dir_target("--store-root", args.store_root)
    if args.checkpoint_root is not None:
        _check_dir_target("--checkpoint-root", args.checkpoint_root)


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
    except (SettingsError, UnknownStepError) as err:
        raise JobError(str(err)) from None
    return steps, settings


def _check_analyze(args: argparse.Namespace) -> None:
    if args.checkpoint is None:
        raise JobError("--checkpoint DIR is required (a directory with config.json and model.safetensors)")
    if not args.checkpoint.is_dir():
        raise JobError(f"no checkpoint directory at {args.checkpoint} (--checkpoint)")
    if not (args.checkpoint / "config.json").is_file():
        raise JobError(f"{args.checkpoint} has no config.json: not a checkpoint directory (--checkpoint)")
    if args.patching is not None and not args.patching.is_file():
        raise JobError(f"--patching {args.patching}: no such file")
    if args.prompts is not None and not args.prompts.is_file():
        raise JobError(f"--prompts {args.prompts}: no such file (one prompt per line, or a .json "
                       "list of strings)")
    if args.run_id is not None and (not args.run_id or len(args.run_id) > 200
                                    or any(c in args.run_id for c in "/\\") or args.run_id.startswith(".")):
        raise JobError(f"--run-id {args.run_id!r}: use a plain name of at most 200 characters "
                       "(no '/', not starting with '.')")
    _check_choice("device", args.device, DEVICES)
    _check_seed(args.seed)
    _check_dir_target("--store-root", args.store_root)


def _run(args: argparse.Namespace) -> None:
    """Check the arguments (cheap), then import the job (torch) and run it."""
    if args.command == "ladder":
        _check_ladder(args)
        from jobs.run_ladder import LadderConfig, ladder  # noqa: PLC0415

        ladder(LadderConfig(preset=args.preset, store_root=args.store_root,
                            checkpoint_root=args.checkpoint_root, corpus=args.corpus,
                            device=args.device, rungs=tuple(args.rungs), seed=args.seed))  # fmt: skip
    elif args.command == "train":
        _check_train(args)
        from jobs.train_model import TrainConfig, train  # noqa: PLC0415

        train(TrainConfig(model=args.model, preset=args.preset, out=args.out, corpus=args.corpus,
                          steps=args.steps, seed=args.seed, device=args.device,
                          precision=args.precision))  # fmt: skip
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
    except Exception as err:  # the libraries' own user errors, imported only once torch is in
        if not _is_user_error(err):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _is_user_error(err: Exception) -> bool:
    from interp_core.config import ConfigError  # noqa: PLC0415
    from interp_core.corpora import CorpusError  # noqa: PLC0415
    from interp_core.models.checkpoint import CheckpointError  # noqa: PLC0415
    from interp_core.tokenizers import TokenizerError  # noqa: PLC0415
    from store import StoreError  # noqa: PLC0415

    return isinstance(err, (StoreError, ConfigError, CorpusError, CheckpointError, TokenizerError))


if __name__ == "__main__":
    sys.exit(main())
