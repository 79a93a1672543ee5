"""The gpu preset on a CUDA card: training tokens/s and model FLOPs utilisation, analysis tokens/s.

Shape: the gpu preset's gpt-4l (``interp_core.models.ladder.LADDER["gpu"]["gpt-4l"]``: 4 full
blocks, d_model 512, 8 heads, d_mlp 2048, the full GPT-2 vocabulary of 50,257, context 512)
trained at the preset's batch (64 sequences of 512 tokens) with the lab's own training step
(``interp_core.training.train_step``: AdamW, clipping, bf16 autocast on CUDA). Tokens are
random ids: the shapes set the cost, not the text.

* **training**: tokens/s over ``--steps`` timed optimizer steps after ``--warmup`` untimed ones.
  Model FLOPs per token = 6 N + 12 n_layers n_heads d_head seq (forward and backward of the
  matmuls, plus the attention scores and the weighted sum, counted without the causal
  half, as in PaLM's appendix B); N counts every weight that is multiplied, that is all
  parameters but the token and position embeddings (lookups), the unembedding included.
  MFU = model FLOPs/s over the card's dense bf16 peak (``PEAK_BF16_TFLOPS``, by device name,
  printed with the result; ``--peak-tflops`` overrides it).
* **analysis**: tokens/s of what ``jobs analyze`` does most, a forward pass that caches every
  hook (``run_with_cache``, cache moved to the CPU) over the preset's evaluation prompts
  (128 x 256) in the analysis context's batches of 16; in fp32, as ``jobs analyze`` runs, and
  under bf16 autocast for comparison.

On a machine without CUDA it exits with one line (status 2) unless asked for the CPU:
``--dry-run`` (= ``--device cpu --tiny --steps 2 --warmup 1``) is the smoke test the default
suite runs in seconds (tests/bench/test_gpu_bench.py). The full run takes a minute or two on
an H100-class card and is bounded well inside a 10-minute device slot.

Usage:
    python bench/gpu.py --out bench/gpu.json [--steps 30] [--warmup 5] [--peak-tflops 989]
    python bench/gpu.py --dry-run --out /tmp/gpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEAK_BF16_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0))
"""Dense bf16 tensor-core peak (TFLOPS) by the first name that the device name contains:
H100 SXM and H200 989 (NVIDIA's data sheets; H100 PCIe 756), A100 312."""
TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "d_head": 16, "d_mlp": 256, "d_vocab": 512,
        "n_ctx": 64}
"""``--tiny``: a shape that trains in milliseconds on a CPU (the smoke test's)."""
TINY_SIZES = {"batch": 4, "seq": 64, "n_prompts": 8, "prompt_len": 32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the results")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--analysis-passes", type=int, default=3,
                        help="timed passes over the evaluation prompts")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny shapes instead of the gpu preset's")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense bf16 peak of the card (default: from its name)")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU smoke test: --device cpu --tiny --steps 2 --warmup 1")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.device, args.tiny, args.steps, args.warmup, args.analysis_passes = "cpu", True, 2, 1, 1
    if args.steps < 1 or args.warmup < 0 or args.analysis_passes < 1:
        parser.error("--steps and --analysis-passes must be >= 1, --warmup >= 0")
    return args


def shapes(tiny: bool) -> tuple[object, dict[str, int]]:
    """(ModelConfig, sizes): the gpu preset's gpt-4l and batch, or the tiny smoke-test ones."""
    from interp_core.config import ModelConfig  # noqa: PLC0415
    from interp_core.models.ladder import LADDER  # noqa: PLC0415
    from jobs.presets import PRESETS  # noqa: PLC0415

    if tiny:
        return ModelConfig(**TINY, act_fn="gelu"), dict(TINY_SIZES)
    preset = PRESETS["gpu"]
    sizes = {"batch": preset.batch_size, "seq": preset.seq_len, "n_prompts": preset.n_prompts,
             "prompt_len": preset.prompt_len}
    return LADDER["gpu"]["gpt-4l"], sizes


def matmul_params(model) -> int:
    """Parameters that are multiplied: all but the token and position embedding tables."""
    lookups = {"embed.W_E", "pos_embed.W_pos"}
    return sum(p.numel() for name, p in model.named_parameters() if name not in lookups)


def train_flops_per_token(cfg, n_matmul: int, seq: int) -> float:
    """6 N plus the attention scores and weighted sum, forward and backward (PaLM, app. B)."""
    return 6.0 * n_matmul + 12.0 * cfg.n_layers * cfg.n_heads * cfg.d_head * seq


def peak_tflops(device_name: str, override: float | None) -> tuple[float | None, str]:
    """The card's dense bf16 peak and where the number comes from."""
    if override is not None:
        return override, f"{override:g} TFLOPS dense bf16 (--peak-tflops)"
    for name, tflops in PEAK_BF16_TFLOPS:
        if name.lower() in device_name.lower():
            return tflops, f"{tflops:g} TFLOPS dense bf16 ({name}, NVIDIA data sheet)"
    return None, f"unknown peak for {device_name!r}: pass --peak-tflops to get MFU"


def _sync(device) -> None:
    import torch  # noqa: PLC0415

    if device.type == "cuda":
        torch.cuda.synchronize()


def measure_training(model, cfg, sizes: dict[str, int], args, device) -> dict[str, float]:
    """Tokens/s of ``train_step`` at the preset's batch; bf16 autocast on CUDA, fp32 on CPU."""
    import torch  # noqa: PLC0415

    from interp_core.training import OptimConfig, make_optimizer, train_step  # noqa: PLC0415

    precision = "bf16" if device.type == "cuda" else "fp32"
    optim = OptimConfig(steps=args.warmup + args.steps, lr=1e-3, precision=precision)
    opt = make_optimizer(model, optim)
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.d_vocab, (sizes["batch"], sizes["seq"]), generator=gen)
               for _ in range(4)]  # [batch, pos] each
    loss_fn = lambda m, tokens: m(tokens, return_type="loss")  # noqa: E731
    for i in range(args.warmup):
        train_step(model, opt, batches[i % 4], loss_fn, optim, i)
    _sync(device)
    started = time.perf_counter()
    for i in range(args.steps):
        result = train_step(model, opt, batches[i % 4], loss_fn, optim, args.warmup + i)
    loss = float(result.loss)  # waits for the last step
    _sync(device)
    seconds = time.perf_counter() - started
    tokens = args.steps * sizes["batch"] * sizes["seq"]
    return {"precision": precision, "steps": args.steps, "seconds": seconds,
            "tokens_per_s": tokens / seconds, "step_ms": 1000 * seconds / args.steps,
            "final_loss": loss}


def measure_analysis(model, cfg, sizes: dict[str, int], args, device, *,
                     bf16: bool) -> dict[str, float]:
    """Tokens/s of a forward that caches every hook, batch by batch, as ``jobs analyze`` does."""
    import torch  # noqa: PLC0415

    from jobs.analysis_context import AnalysisContext  # noqa: PLC0415

    batch = {f.name: f.default for f in dataclasses.fields(AnalysisContext)}["batch_size"]
    gen = torch.Generator().manual_seed(1)
    shape = (sizes["n_prompts"], sizes["prompt_len"])
    prompts = torch.randint(0, cfg.d_vocab, shape, generator=gen)  # [prompt, pos]

    def one_pass() -> int:
        n_cached = 0
        for start in range(0, prompts.shape[0], batch):
            tokens = prompts[start : start + batch].to(device)  # [batch, pos]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                _, cache = model.run_with_cache(tokens, device="cpu")
            n_cached = len(cache)
        return n_cached

    with torch.no_grad():
        one_pass()  # warm-up
        _sync(device)
        started = time.perf_counter()
        for _ in range(args.analysis_passes):
            n_hooks = one_pass()
        _sync(device)
    seconds = time.perf_counter() - started
    tokens = args.analysis_passes * prompts.numel()
    return {"precision": "bf16" if bf16 else "fp32", "batch": batch, "hooks_cached": n_hooks,
            "seconds": seconds, "tokens_per_s": tokens / seconds}


def _table(report: dict) -> str:
    train, shape = report["train"], report["shape"]
    mfu = f"{100 * train['mfu']:.1f}%" if train.get("mfu") is not None else "n/a"
    rows = [("what", "precision", "tokens/s", "notes"),
            ("training", train["precision"], f"{train['tokens_per_s']:,.0f}",
             f"{train['step_ms']:.1f} ms/step, {train['model_tflops_per_s']:.1f} TFLOPS, "
             f"MFU {mfu}")]
    rows += [("analysis", a["precision"], f"{a['tokens_per_s']:,.0f}",
              f"{a['hooks_cached']} hooks cached, batches of {a['batch']}, cache -> CPU")
             for a in report["analysis"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{report['device']} | {shape['model']} | batch {shape['batch']} x "
             f"{shape['seq']} | N (matmul) {shape['matmul_params']:,} | peak: {report['peak']}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch  # noqa: PLC0415

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here (torch.cuda.is_available() is False); run it on "
              "a GPU box, or pass --dry-run for the CPU smoke test", file=sys.stderr)
        return 2
    from interp_core.models.transformer import Transformer  # noqa: PLC0415

    began = time.perf_counter()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        platform.processor() or platform.machine())
    cfg, sizes = shapes(args.tiny)
    model = Transformer(cfg, seed=0).to(device)
    n_matmul = matmul_params(model)
    peak, assumption = peak_tflops(name, args.peak_tflops)
    print(f"peak assumed: {assumption}", flush=True)
    train = measure_training(model, cfg, sizes, args, device)
    train["model_flops_per_token"] = train_flops_per_token(cfg, n_matmul, sizes["seq"])
    train["model_tflops_per_s"] = train["model_flops_per_token"] * train["tokens_per_s"] / 1e12
    train["mfu"] = train["model_tflops_per_s"] / peak if peak else None
    model.eval()
    precisions = [False] + ([True] if device.type == "cuda" else [])  # bf16 only where it pays
    analysis = [measure_analysis(model, cfg, sizes, args, device, bf16=bf16) for bf16 in precisions]
    report = {
        "device": name, "torch": torch.__version__, "peak": assumption, "peak_tflops": peak,
        "shape": {"model": "tiny" if args.tiny else "gpu preset gpt-4l", **sizes,
                  "config": dataclasses.asdict(cfg), "matmul_params": n_matmul,
                  "n_params": sum(p.numel() for p in model.parameters())},
        "train": train, "analysis": analysis,
        "max_memory_gib": (torch.cuda.max_memory_allocated(device) / 2**30
                           if device.type == "cuda" else None),
        "wall_s": time.perf_counter() - began,
    }
    print(_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({report['wall_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
