"""jobs/steps/patching.py: the built-in induction experiment and a user prompt-pair file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core.analysis import GRANULARITIES, induction_circuit
from interp_core.prompts import repeated_random_tokens
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from jobs.steps import patching
from store import RunWriter, open_store


def _ctx(model, tmp_path: Path, tokenizer=None) -> AnalysisContext:
    V = model.cfg.d_vocab
    tokens = torch.randint(1, V, (4, 12), generator=torch.Generator().manual_seed(0))
    rrt = repeated_random_tokens(n=8, batch=4, pool=range(1, V), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(V)],
                           checkpoint_dir=tmp_path, tokenizer=tokenizer, batch_size=4)  # fmt: skip


def test_induction_experiment_on_a_hand_built_circuit(tmp_path: Path) -> None:
    model = induction_circuit(d_vocab=24, n_ctx=40)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    patching.run(_ctx(model, tmp_path), patching.Config(), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    meta = run.attrs["patching"]["induction"]
    assert "skipped" not in meta and meta["clean_logit_diff"] > meta["corrupted_logit_diff"]
    assert meta["signal"] is True and meta["signal_rule"] == patching.SIGNAL_RULE
    assert meta["logit_diff_gap"] == pytest.approx(meta["clean_logit_diff"] - meta["corrupted_logit_diff"], rel=1e-4)
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, 17
    assert run.read("patching/induction/positions").shape == (T,)
    for name, gran in GRANULARITIES.items():
        if name in ("resid_mid", "mlp_out"):
            assert not run.has(f"patching/induction/act_{name}")  # attention-only
            continue
        sizes = {"layer": L, "head": H, "pos": T}
        act = run.read(f"patching/induction/act_{name}")
        assert act.shape == tuple(sizes[a] for a in gran.axes), name
        assert run.read(f"patching/induction/atp_{name}").shape == (2, *act.shape)
    resid = run.read("patching/induction/act_resid_pre").values
    np.testing.assert_allclose(resid[0, 9:], 0.0, atol=1e-6)  # second halves are identical
    heads = run.read("patching/induction/act_z_head").values
    assert heads.max() > 0.5
    assert run.read("patching/induction/path_to_next").shape == (L, H, H, 3)
    dla = run.read("patching/induction/dla").values
    assert dla.shape[0] == len(run.read("patching/induction/component").values)
    np.testing.assert_allclose(dla.sum(0).mean(), meta["clean_logit_diff"], rtol=1e-4)


def test_a_cut_induction_experiment_still_finds_the_circuit(tmp_path: Path) -> None:
    """pairs / rrt_n / path_senders (the gpt2 profile's cuts): shorter prompts, fewer senders."""
    model = induction_circuit(d_vocab=24, n_ctx=40)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    cfg = patching.Config(pairs=2, rrt_n=5, path_senders=2)
    patching.run(_ctx(model, tmp_path), cfg, writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    meta = run.attrs["patching"]["induction"]
    assert meta["signal"] is True and (meta["n_pairs"], meta["rrt_n"]) == (2, 5)
    clean = run.read("patching/induction/clean_tokens").values
    full = repeated_random_tokens(n=8, batch=4, pool=range(1, 24), bos_id=0, seed=0).tokens.numpy()
    assert clean.shape == (2, 11)  # BOS + 5 + 5
    np.testing.assert_array_equal(clean[:, 1:6], full[:2, 1:6])
    np.testing.assert_array_equal(clean[:, 6:], full[:2, 1:6])  # the cut half, repeated
    z_head = run.read("patching/induction/act_z_head").values
    top = {divmod(int(i), z_head.shape[1]) for i in np.argsort(-np.abs(z_head).ravel())[:2]}
    to_logits = run.read("patching/induction/path_to_logits")
    swept = {tuple(int(v) for v in ix) for ix in np.argwhere(~np.isnan(to_logits.values))}
    assert swept == top and "path_senders" in to_logits.attrs["senders"]
    assert (1, 0) in swept  # the planted induction head is among the senders


def test_cut_settings_are_checked() -> None:
    for bad, why in (({"pairs": 1}, "at least 2"), ({"rrt_n": -1}, r"0 \(all\)"),
                     ({"path_senders": -3}, r"0 \(all\)")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            patching.Config(**bad)


class _Letters:
    """Tokenizer stub: 'a'..'w' -> ids 1..23, BOS 0 (fits the 24-token circuit)."""

    bos_id = 0

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("a") + 1 for c in text]


def test_user_prompt_pairs_and_errors(tmp_path: Path) -> None:
    model = induction_circuit(d_vocab=24, n_ctx=40)
    tok = _Letters()
    good = tmp_path / "copy.toml"
    good.write_text('name = "copy"\n[[pair]]\nclean = "abcdab"\ncorrupted = "efgdab"\n'
                    'answer = "c"\nwrong = "g"\n')  # fmt: skip
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    patching.run(_ctx(model, tmp_path, tokenizer=tok), patching.Config(file=good), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    assert set(run.attrs["patching"]) == {"induction", "copy"}
    if "skipped" not in run.attrs["patching"]["copy"]:
        assert run.read("patching/copy/act_z_head").shape == (2, model.cfg.n_heads)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pair]]\nclean = "ab"\ncorrupted = "efg"\nanswer = "c"\nwrong = "g"\n')
    writer = RunWriter.create(tmp_path / "store2", run_id="r")
    with pytest.raises(JobError, match="same token length"):
        patching.run(_ctx(model, tmp_path, tokenizer=tok), patching.Config(file=bad), writer)


def test_the_signal_rule_separates_a_gap_from_noise():
    # the tiny store's numbers: clean -0.631 vs corrupted -0.583, a gap below the floor
    flat = patching.logit_diff_signal(np.array([-0.70, -0.56]), np.array([-0.60, -0.566]))
    assert flat["signal"] is False and "below the floor" in flat["signal_note"]
    noisy = patching.logit_diff_signal(np.array([2.0, -1.6, 1.9, -1.5]), np.zeros(4))
    assert noisy["signal"] is False and "within noise" in noisy["signal_note"]
    assert noisy["logit_diff_gap_se"] == pytest.approx(np.std([2.0, -1.6, 1.9, -1.5], ddof=1) / 2)
    clear = patching.logit_diff_signal(np.array([3.0, 3.2, 2.9, 3.1]), np.array([-1.0, -1.1, -0.9, -1.2]))
    assert clear["signal"] is True and "standard errors over 4 pairs" in clear["signal_note"]
    one = patching.logit_diff_signal(np.array([0.5]), np.array([0.0]))
    assert one["signal"] is True and one["logit_diff_gap_se"] is None


def test_an_experiment_with_nothing_to_explain_says_so(tmp_path: Path) -> None:
    model = induction_circuit(d_vocab=24, n_ctx=40)
    same = tmp_path / "same.toml"
    same.write_text('[[pair]]\nclean = "abcdab"\ncorrupted = "abcdab"\nanswer = "c"\nwrong = "g"\n')
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    found = patching.run(_ctx(model, tmp_path, tokenizer=_Letters()), patching.Config(file=same), writer)
    writer.finalize()
    meta = open_store(tmp_path / "store").run("r").attrs["patching"]["same"]
    assert meta["signal"] is False and "skipped" in meta and "below the floor" in meta["signal_note"]
    mine = [f for f in found if f.refs.get("experiment") == "same"]
    assert [f.kind for f in mine] == ["null"]
    assert [f.kind for f in found if f.refs.get("experiment") == "induction"] == ["result"]
