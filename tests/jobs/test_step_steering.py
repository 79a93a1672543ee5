"""jobs/steps/steering.py and jobs/steering_pairs.py: the sweep round-trips through the store,
its cells agree with a hand-run of the analyses, and bad pair files are refused up front."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis.steering import actadd_vector, caa_vector, next_token_logits, steer
from interp_core.prompts import repeated_random_tokens
from interp_core.sampling import generate
from interp_core.tokenizers import build_char, load_tokenizer
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from jobs.steering_pairs import SteeringFileError, default_steering, load_steering_file
from jobs.steps import Skipped, steering
from store import RunWriter, open_store

BYTES = load_tokenizer({"name": "bytes"})
CFG = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64, d_vocab=256, n_ctx=48,
                  tokenizer={"name": "bytes"})  # fmt: skip
FAST = {"coefficients": (-2.0, 0.0, 3.0), "new_tokens": 6, "heldout_texts": 2}


def _ctx(cfg: ModelConfig, tmp_path: Path, tok=BYTES) -> AnalysisContext:
    model = Transformer(cfg, seed=0).eval()
    tokens = torch.randint(1, cfg.d_vocab, (4, 20), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, cfg.d_vocab), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(cfg.d_vocab)],
                           checkpoint_dir=tmp_path, tokenizer=tok)  # fmt: skip


def _pairs_file(tmp_path: Path, body: dict, name: str = "pairs.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return path


PAIRS = {"prompts": ["the cat sat on ", "a dog ran to "], "pad": " ",
         "pairs": [{"name": "love-hate", "positive": "love", "negative": "hate", "contexts": ["I {}", "we {}"]},
                   {"name": "up-down", "positive": "up", "negative": "down"}]}  # fmt: skip


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("steer")
    ctx = _ctx(CFG, tmp_path)
    cfg = steering.Config(file=_pairs_file(tmp_path, PAIRS), **FAST)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    writer.write("vocab/token_str", np.asarray(ctx.token_strs, dtype=object))  # as the vocab step does
    findings = steering.run(ctx, cfg, writer)
    writer.finalize()
    return ctx, cfg, findings, open_store(tmp_path / "store").run("r")


def test_round_trip_names_and_shapes(stored) -> None:
    _, cfg, findings, run = stored
    assert list(run.read("steering/vector").values) == ["actadd:love-hate", "caa:love-hate",
                                                         "actadd:up-down", "caa:up-down"]  # fmt: skip
    tokens = run.read("steering/tokens")
    assert tokens.shape == (4, 2, 3, 2, 2, 16 + 6)  # vector, layer, coeff, prompt, mode, pos
    assert "token_str" in tokens.coords
    assert list(run.read("steering/target").values[0]) == [BYTES.encode("l")[0], BYTES.encode("h")[0]]
    assert len(findings) == 4 and all(f.kind in ("result", "null") for f in findings)


def test_coefficient_zero_reproduces_the_unsteered_run(stored) -> None:
    _, _, _, run = stored
    zero = list(run.read("steering/coeff").values).index(0.0)
    greedy = run.read("steering/tokens").values[:, :, zero, :, 0]  # [vector, layer, prompt, pos]
    base = run.read("steering/base_tokens").values[:, 0]  # [prompt, pos]
    assert (greedy == base[None, None]).all()
    assert np.abs(run.read("steering/logit_shift").values[:, :, zero]).max() == 0
    assert np.abs(run.read("steering/kl").values[:, :, zero]).max() < 1e-6
    ppl = run.read("steering/ppl")
    np.testing.assert_allclose(ppl.values[:, :, zero], ppl.attrs["base_ppl"], rtol=1e-5)


def test_a_cell_equals_a_hand_run_of_the_analyses(stored) -> None:
    ctx, cfg, _, run = stored
    model, layer, c = ctx.model, 1, 3.0
    prompt = torch.tensor([[0, *BYTES.encode("a dog ran to ")]])
    pos = torch.tensor([0, *BYTES.encode("love")])
    neg = torch.tensor([0, *BYTES.encode("hate")])
    S = actadd_vector(model, pos, neg, layer)
    t_pos, t_neg = BYTES.encode("l")[0], BYTES.encode("h")[0]
    shift = next_token_logits(model, prompt, layer, S, c, 0) - next_token_logits(model, prompt)
    stored_shift = run.read("steering/logit_shift").values[0, 1, 2]  # actadd:love-hate, layer 1, c=3
    other = torch.tensor([[0, *BYTES.encode("the cat sat on ")]])
    shift_other = next_token_logits(model, other, layer, S, c, 0) - next_token_logits(model, other)
    expected = (shift[0, [t_pos, t_neg]] + shift_other[0, [t_pos, t_neg]]) / 2
    np.testing.assert_allclose(stored_shift, expected.numpy(), rtol=1e-4, atol=1e-5)
    with steer(model, layer, S, c):
        greedy = generate(model, prompt, cfg.new_tokens, temperature=0)
    np.testing.assert_array_equal(run.read("steering/tokens").values[0, 1, 2, 1, 0, :20], greedy[0].numpy())
    caa = caa_vector(model, [(torch.tensor([0, *BYTES.encode(f"{w} love")]), torch.tensor([0, *BYTES.encode(f"{w} hate")]))
                             for w in ("I", "we")], layer)  # fmt: skip
    caa_shift = next_token_logits(model, prompt, layer, caa, c, -1) - next_token_logits(model, prompt)
    caa_other = next_token_logits(model, other, layer, caa, c, -1) - next_token_logits(model, other)
    np.testing.assert_allclose(run.read("steering/logit_shift").values[1, 1, 2, 0],
                               float((caa_shift[0, t_pos] + caa_other[0, t_pos]) / 2), rtol=1e-4, atol=1e-5)  # fmt: skip


def test_injected_positions(stored) -> None:
    _, cfg, _, run = stored
    injected = run.read("steering/injected").values  # [vector, prompt, pos]
    k = 1 + len("love")
    assert injected[0, 0].tolist() == [1] * k + [0] * (injected.shape[2] - k)
    P = 1 + len("the cat sat on ")
    assert injected[1, 0, : P - 1].sum() == 0 and injected[1, 0, P - 1 : P + cfg.new_tokens].all()


def test_zero_layer_and_tokenizer_less_models_are_skipped(tmp_path: Path) -> None:
    zero = ModelConfig(n_layers=0, d_model=8, d_vocab=256, n_ctx=32, normalization_type=None,
                       positional_embedding_type=None)  # fmt: skip
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    assert isinstance(steering.run(_ctx(zero, tmp_path), steering.Config(**FAST), writer), Skipped)
    assert isinstance(steering.run(_ctx(CFG, tmp_path, tok=None), steering.Config(**FAST), writer), Skipped)


def test_defaults_run_on_both_corpora_with_bytes() -> None:
    for corpus in ("stdlib", "shakespeare"):
        pairs = default_steering(corpus, BYTES, n_ctx=64, new_tokens=24)
        assert pairs.pairs and not pairs.skipped, (corpus, pairs.skipped)


def test_a_default_pair_that_does_not_encode_is_left_out_with_the_reason() -> None:
    tok = build_char(["I do not My lord, the"])  # the prompts encode; no pair's words do
    pairs = default_steering("shakespeare", tok, n_ctx=64, new_tokens=8)
    assert not pairs.pairs and set(pairs.skipped) == {"love-hate", "king-queen"}
    assert "outside the model's vocabulary" in pairs.skipped["love-hate"]
    no_prompts = default_steering("shakespeare", build_char(["love hate"]), n_ctx=64, new_tokens=8)
    assert not no_prompts.pairs and "prompt" in no_prompts.skipped["prompts"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**PAIRS, "pad": None, "pairs": [{"positive": "love", "negative": "hates"}]}, "positive is 4 tokens but negative is 5"),
        ({**PAIRS, "pairs": [{"positive": "love", "negative": "love"}]}, "the vector would be zero"),
        ({**PAIRS, "pairs": [{"positive": "love"}]}, "'negative' must be a non-empty string"),
        ({**PAIRS, "pairs": []}, "no pairs found"),
        ({**PAIRS, "pad": "  "}, "pad '  ' is 2 tokens"),
        ({**PAIRS, "prompts": ["ab"]}, "ActAdd injects at the prompt's first positions"),
        ({**PAIRS, "prompts": ["x" * 45]}, "exceeds n_ctx=48"),
        ({**PAIRS, "prompts": []}, "prompts must be a non-empty list"),
        ({**PAIRS, "pairs": [{"positive": "love", "negative": "hate", "contexts": ["no slot"]}]}, "exactly one '{}'"),
        ({**PAIRS, "pairs": [{"name": "a b", "positive": "love", "negative": "hate"}]}, "name 'a b'"),
        ({**PAIRS, "pairs": PAIRS["pairs"] + PAIRS["pairs"][:1]}, "two pairs are named 'love-hate'"),
    ],
)  # fmt: skip
def test_bad_files_raise_one_clear_error(tmp_path: Path, body: dict, message: str) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    path = _pairs_file(tmp_path, body)
    with pytest.raises(JobError) as err:
        steering.check(steering.Config(file=path, new_tokens=6), CFG, BYTES)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_tokens_and_missing_tokenizer(tmp_path: Path) -> None:
    tok = build_char(["the cat sat on a dog ran to love hate up"])
    body = {**PAIRS, "pairs": [{"positive": "love", "negative": "lozz"}]}
    with pytest.raises(SteeringFileError, match="outside the model's vocabulary"):
        load_steering_file(_pairs_file(tmp_path, body), tok, 48, 6)
    with pytest.raises(SteeringFileError, match="no tokenizer"):
        load_steering_file(_pairs_file(tmp_path, PAIRS), None, 48, 6)
    with pytest.raises(SteeringFileError, match="expected a .toml or .json"):
        load_steering_file(tmp_path / "p.txt", BYTES, 48, 6)
    with pytest.raises(JobError, match="layer 5 does not exist"):
        steering.check(steering.Config(layers=(5,)), CFG, BYTES)


def test_toml_file_is_read_like_json(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('prompts = ["the cat sat on "]\n[[pair]]\npositive = "up"\nnegative = "do"\n')
    pairs = load_steering_file(path, BYTES, 48, 6)
    assert pairs.pairs[0].name == "up-do" and pairs.pairs[0].targets == (BYTES.encode("u")[0], BYTES.encode("d")[0])


def test_describe_says_what_moves_and_what_does_not() -> None:
    shift = np.zeros((2, 2, 3, 2))
    shift[0, 1, 2, 0] = 3.1
    kl = np.full((2, 2, 3), 0.4)
    found = steering.describe(["actadd:love-hate", "caa:love-hate"], ["love-hate"] * 2,
                              [["love", "hate"]] * 2, [0, 1], [-1.0, 0.0, 4.0], shift, kl)  # fmt: skip
    assert found[0].text == ("adding the love-hate actadd vector at layer 1 with coefficient 4 raises "
                             "logit(love) by 3.10 at a held-out KL of 0.40 nats")  # fmt: skip
    assert found[0].kind == "result" and found[0].refs["layer"] == 1
    assert found[1].kind == "null" and "does not steer towards love" in found[1].text


def test_cli_rejects_a_bad_steering_file_before_any_run(tmp_path: Path) -> None:
    from interp_core import save_checkpoint

    save_checkpoint(Transformer(CFG, seed=0), tmp_path / "ok")
    bad = _pairs_file(tmp_path, {**PAIRS, "pad": None, "pairs": [{"positive": "ab", "negative": "abc"}]})
    for flag in (["--steering", str(bad)], ["--set", f"steering.file={bad}"]):
        out = subprocess.run([sys.executable, "-m", "jobs", "analyze", "--checkpoint", str(tmp_path / "ok"),
                              "--store-root", str(tmp_path / "s"), *flag],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert out.returncode == 2 and "positive is 2 tokens but negative is 3" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("*.zarr"))
    out = subprocess.run([sys.executable, "-m", "jobs", "analyze", "--checkpoint", str(tmp_path / "ok"),
                          "--steering", str(tmp_path / "none.toml")], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 2 and "--steering" in out.stderr and "no such file" in out.stderr


def test_sweep_layers_picks_evenly_spaced_layers_with_the_first_and_last() -> None:
    layers, Config = steering.steered_layers, steering.Config
    assert layers(Config(sweep_layers=3), 12) == [0, 6, 11]
    assert layers(Config(sweep_layers=3), 2) == [0, 1]  # fewer layers than asked: all
    assert layers(Config(), 4) == [0, 1, 2, 3]
    assert layers(Config(layers=(2,), sweep_layers=3), 12) == [2]  # layers wins
