"""Command line: ``python -m jobs train | analyze | ladder`` (``--help`` on each).

Errors a user can fix (unknown rung, wrong path, empty corpus, ...) print one line and
exit with status 2; nothing half-written is ever marked complete.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from interp_core.models.ladder import PRESETS, RUNGS


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
    an.add_argument("--checkpoint", type=Path, required=True, help="config.json + model.safetensors dir")
    an.add_argument("--store-root", type=Path, default=Path("lab-store"), help="store directory")
    an.add_argument("--run-id", default=None, help="run name (default: checkpoint directory name)")
    an.add_argument("--device", default="auto", help="auto, cpu or cuda")
    an.add_argument("--patching", type=Path, default=None,
                    help="prompt-pair file (TOML or JSON) with extra patching experiments")
    an.add_argument("--corpus", default=None, help="corpus for evaluation prompts")
    an.add_argument("--overwrite", action="store_true", help="replace a complete run with the same id")
    an.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run one job; returns the exit status."""
    args = _parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    # Imported here so `--help` stays fast and import errors show after argument errors.
    from interp_core.config import ConfigError  # noqa: PLC0415
    from interp_core.corpora import CorpusError  # noqa: PLC0415
    from interp_core.models.checkpoint import CheckpointError  # noqa: PLC0415
    from interp_core.tokenizers import TokenizerError  # noqa: PLC0415
    from jobs._common import JobError  # noqa: PLC0415
    from store import StoreError  # noqa: PLC0415

    user_errors = (JobError, StoreError, ConfigError, CorpusError, CheckpointError, TokenizerError)
    try:
        if args.command == "ladder":
            from jobs.run_ladder import LadderConfig, ladder  # noqa: PLC0415

            ladder(LadderConfig(preset=args.preset, store_root=args.store_root,
                                checkpoint_root=args.checkpoint_root, corpus=args.corpus,
                                device=args.device, rungs=tuple(args.rungs), seed=args.seed))  # fmt: skip
        elif args.command == "train":
            from jobs.train_model import TrainConfig, train  # noqa: PLC0415

            train(TrainConfig(model=args.model, preset=args.preset, out=args.out, corpus=args.corpus,
                              steps=args.steps, seed=args.seed, device=args.device,
                              precision=args.precision))  # fmt: skip
        else:
            from jobs.analyze_model import AnalyzeConfig, analyze  # noqa: PLC0415

            analyze(AnalyzeConfig(checkpoint=args.checkpoint, store_root=args.store_root,
                                  run_id=args.run_id, device=args.device, patching=args.patching,
                                  corpus=args.corpus, seed=args.seed, overwrite=args.overwrite))  # fmt: skip
    except user_errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to resume (complete runs are kept)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
