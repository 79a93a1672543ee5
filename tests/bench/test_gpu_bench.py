"""bench/gpu.py: the CPU smoke test (--dry-run), the FLOPs it counts, and its no-CUDA exit."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_measures_training_and_analysis_on_the_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    cfg, shape = report["shape"]["config"], report["shape"]
    # N: every multiplied weight, i.e. all parameters but the token and position tables
    lookups = cfg["d_vocab"] * cfg["d_model"] + cfg["n_ctx"] * cfg["d_model"]
    assert shape["matmul_params"] == shape["n_params"] - lookups
    attention = 12 * cfg["n_layers"] * cfg["n_heads"] * cfg["d_head"] * shape["seq"]
    train = report["train"]
    assert train["model_flops_per_token"] == 6 * shape["matmul_params"] + attention
    assert train["steps"] == 2 and train["tokens_per_s"] > 0 and train["precision"] == "fp32"
    assert train["mfu"] is None and "--peak-tflops" in report["peak"]  # a CPU has no listed peak
    (analysis,) = report["analysis"]
    assert analysis["tokens_per_s"] > 0 and analysis["hooks_cached"] > 0
    assert "training" in proc.stdout and "analysis" in proc.stdout  # the summary table


def test_peak_is_looked_up_by_device_name():
    bench = _bench()
    for name, peak in (("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H200", 989.0),
                       ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0)):
        assert bench.peak_tflops(name, None)[0] == peak, name
    assert bench.peak_tflops("NVIDIA L4", None)[0] is None
    assert bench.peak_tflops("NVIDIA L4", 121.0) == (121.0, "121 TFLOPS dense bf16 (--peak-tflops)")


def test_without_cuda_it_says_so_in_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and not proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and "no CUDA device" in proc.stderr
    assert not (tmp_path / "x.json").exists()
