"""``python -m jobs finetune`` and the finetune analysis step (docs/methods.md §11).

A bytes-tokenizer gpt-4l trained for a dozen steps on stdlib is fine-tuned on shakespeare
with LoRA (rank 2, W_Q and W_V), fully with learning rate 0, and fully for real, side by
side; the step is run on the LoRA fine-tune.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer, load_checkpoint, save_checkpoint
from interp_core.analysis import weight_change_report
from interp_core.lora import KIND
from jobs.__main__ import main
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.finetune import FinetuneConfig, finetune, sibling_finetunes
from jobs.steps.finetune import fused
from jobs.train_model import TrainConfig, train
from store import open_store
from tests.jobs.conftest import make_small_preset

SMALL = {"batch_size": 4, "seq_len": 16}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """Base + three fine-tunes side by side: lora-r2, full with lr 0, full."""
    root = tmp_path_factory.mktemp("finetune")
    base = train(TrainConfig(model="gpt-4l", out=root / "base", corpus="stdlib", device="cpu"),
                 preset=make_small_preset(), progress=False)
    ft = root / "ft"
    common = {"checkpoint": base, "corpus": "shakespeare", "steps": 4, "device": "cpu", "n_checkpoints": 3}
    finetune(FinetuneConfig(out=ft / "lora-r2", method="lora", rank=2, lr=0.02, **common),
             progress=False, **SMALL)
    finetune(FinetuneConfig(out=ft / "full-lr0", method="full", lr=0.0, **common), progress=False, **SMALL)
    finetune(FinetuneConfig(out=ft / "full", method="full", lr=3e-3, **common), progress=False, **SMALL)
    return root


def test_full_fine_tuning_with_lr_0_changes_nothing(tuned):
    base, same = load_checkpoint(tuned / "base"), load_checkpoint(tuned / "ft" / "full-lr0")
    for key, value in base.state_dict().items():
        assert torch.equal(value, same.state_dict()[key]), key


def test_lora_checkpoint_is_the_merged_adapter_and_steps_are_adapters(tuned):
    out = tuned / "ft" / "lora-r2"
    merged, via_adapter = load_checkpoint(out), load_checkpoint(out / "adapter")
    x = torch.randint(0, merged.cfg.d_vocab, (2, 16), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(merged(x), via_adapter(x), atol=1e-5, rtol=1e-5)
    record = json.loads((out / "training.json").read_text())
    steps = [c["step"] for c in record["checkpoints"]]
    assert steps[0] == 0 and steps[-1] == 4 and steps == sorted(set(steps))
    assert json.loads((out / "steps" / "step_000000" / "config.json").read_text())["kind"] == KIND
    base = load_checkpoint(tuned / "base")
    start = load_checkpoint(out / "steps" / "step_000000")  # B = 0: the base exactly
    assert torch.equal(start(x), base(x))
    w0, w1 = base.state_dict(), merged.state_dict()
    changed = {k for k in w0 if not torch.equal(w0[k], w1[k])}
    assert changed == {f"blocks.{l}.attn.{m}" for l in range(base.cfg.n_layers) for m in ("W_Q", "W_V")}


def test_siblings_are_the_same_base_and_corpus_lora_first(tuned):
    names = [p.name for p in sibling_finetunes(tuned / "ft" / "full")]
    assert names == ["full", "lora-r2", "full-lr0"]
    assert sibling_finetunes(tuned / "base") == []


def test_finetune_step_writes_the_curve_weight_change_and_drift(tuned, tmp_path):
    small = {"finetune": {"eval_sequences": 6, "eval_len": 24, "score_prompts": 2}}
    path = analyze(AnalyzeConfig(checkpoint=tuned / "ft" / "lora-r2", store_root=tmp_path, run_id="ft",
                                 device="cpu", steps=("finetune",), settings=small), progress=False)
    run = open_store(tmp_path).run("ft")
    assert path.exists() and run.attrs["steps"]["finetune"]["status"] == "done"
    assert list(run.read("finetune/variant").values) == ["lora r=2", "full (full)", "full (full-lr0)"]
    steps = run.read("finetune/curve_step").values
    forgetting, gain = run.read("finetune/forgetting").values, run.read("finetune/gain").values
    assert (steps[:, 0] == 0).all() and np.allclose(forgetting[:, 0], 0, atol=1e-6)
    assert np.allclose(gain[:, 0], 0, atol=1e-6)
    assert np.allclose(forgetting[2], 0, atol=1e-6) and np.allclose(gain[2], 0, atol=1e-6)  # lr 0
    assert gain[0, -1] > 0  # the LoRA run learnt the new corpus
    base, tuned_model = load_checkpoint(tuned / "base"), load_checkpoint(tuned / "ft" / "lora-r2")
    names = list(run.read("finetune/matrix").values)
    assert names == ["W_Q", "W_K", "W_V", "W_O", "W_in", "W_out"]
    rel = run.read("finetune/relative").values
    sigma = run.read("finetune/sigma").values
    H, r = base.cfg.n_heads, 2
    for layer in range(base.cfg.n_layers):
        key = f"blocks.{layer}.attn.W_V"
        want = weight_change_report(fused(base.state_dict()[key], "W_V"),
                                    fused(tuned_model.state_dict()[key], "W_V"))
        assert rel[layer, 2] == pytest.approx(want["relative"], rel=1e-4)
        assert rel[layer, 1] == 0 and rel[layer, 4] == 0  # W_K, W_in not targeted
        s = sigma[layer, 0]
        assert (s[H * r:] < 1e-5 * s[0]).all()  # heads x r non-zero singular values at most
    labels = run.read("finetune/label_before").values
    assert labels.shape == (base.cfg.n_layers, base.cfg.n_heads)
    texts = [f["text"] for f in run.attrs["findings"]["finetune"]]
    assert any("lora r=2 gains" in t for t in texts)


def test_step_says_why_it_skips_a_checkpoint_that_is_no_fine_tune(tuned, tmp_path):
    analyze(AnalyzeConfig(checkpoint=tuned / "base", store_root=tmp_path, run_id="base",
                          device="cpu", steps=("finetune",)), progress=False)
    record = open_store(tmp_path).run("base").attrs["steps"]["finetune"]
    assert record["status"] == "skipped" and "not a fine-tune" in record["reason"]


def _checkpoints(tmp_path):
    full = ModelConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=256, n_ctx=32,
                       tokenizer={"name": "bytes"})
    save_checkpoint(Transformer(full, seed=0), tmp_path / "ok")
    save_checkpoint(Transformer(full.replace(d_mlp=None), seed=0), tmp_path / "attn")


@pytest.mark.parametrize(("extra", "message"), [
    (["--targets", "W_Q,W_X"], "unknown --targets W_X"),
    (["--rank", "0"], "--rank 0: W_Q matrices are 8 x 4, so use a rank from 1 to 4"),
    (["--rank", "9", "--targets", "W_in"], "use a rank from 1 to 8"),
    (["--method", "adapter"], "unknown --method 'adapter'"),
    (["--corpus", "nonesuch"], "unknown corpus 'nonesuch'"),
    (["--checkpoint", "{tmp}/missing"], "no checkpoint directory at {tmp}/missing"),
    (["--checkpoint", "{tmp}/attn", "--targets", "W_in"], "attention-only and has no MLP"),
    (["--lr", "-1"], "--lr -1.0"),
])
def test_cli_errors_are_one_line_exit_2_before_torch(tmp_path, extra, message):
    _checkpoints(tmp_path)
    argv = ["finetune", "--checkpoint", f"{tmp_path}/ok", "--corpus", "shakespeare",
            "--out", f"{tmp_path}/out"]
    argv += [a.format(tmp=tmp_path) for a in extra]
    code = "import sys; from jobs.__main__ import main; c = main(sys.argv[1:]); print('torch' in sys.modules, c)"
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False 2", (out.stdout, out.stderr)
    assert message.format(tmp=tmp_path) in out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_help():
    assert main.__module__ == "jobs.__main__"
    out = subprocess.run([sys.executable, "-m", "jobs", "finetune", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "--targets" in out.stdout


def test_describe_names_each_variant_at_its_last_step_and_the_label_drift():
    from jobs.steps.finetune import describe

    curve = {"curve_step": np.array([[0, 4, 8], [0, 8, -1]]),
             "forgetting": np.array([[0.0, 0.1, 0.2], [0.0, 0.9, np.nan]]),
             "gain": np.array([[0.0, 0.3, 0.4], [0.0, 0.6, np.nan]])}
    before = np.array([["induction", "mixed"]], dtype=object)
    after = np.array([["mixed", "mixed"]], dtype=object)
    found = describe(["lora r=2", "full"], curve, ("stdlib", "shakespeare"), before, after)
    assert found[0].text == ("lora r=2 gains 0.40 on shakespeare and forgets 0.20 on stdlib after 8 "
                             "steps and full gains 0.60 on shakespeare and forgets 0.90 on stdlib "
                             "after 8 steps (nats/token)")
    assert found[1].text == "1 of 2 head labels changed with fine-tuning: 0.0 induction -> mixed"
    assert found[1].refs["heads"] == [{"layer": 0, "head": 0}]
    same = describe(["full"], {k: v[1:] for k, v in curve.items()}, ("a", "b"), after, after)
    assert same[-1].kind == "null" and "no head label changed" in same[-1].text
