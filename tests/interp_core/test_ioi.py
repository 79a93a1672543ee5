"""IOI prompts, metrics and head classes (docs/methods.md §12.2, §12.3).

References: TransformerLens hooks on the same random weights (tests/reference.py) for every
metric, and a hand-built two-layer model with a planted S-inhibition head (0.0) and a planted
name mover (1.0) for the classifier.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import ioi as A
from interp_core.ioi import BABA_TEMPLATES, NAMES, OBJECTS, PLACES, ioi_dataset
from interp_core.tokenizers import Tokenizer
from tests.reference import random_model, transformer_lens_model

WORD = re.compile(r" ?[A-Za-z]+|[^ A-Za-z]")


class WordTokenizer(Tokenizer):
    """Whole words (with their leading space) as tokens; id 0 is BOS, 1 unknown."""

    name = "words"

    def __init__(self, texts: list[str], extra: list[str]) -> None:
        words = sorted({w for t in texts for w in WORD.findall(t)} | {" " + w for w in extra})
        self.vocab = ["<bos>", "<unk>"] + words
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.d_vocab, self.bos_id, self.unk_id = len(self.vocab), 0, 1

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(w, self.unk_id) for w in WORD.findall(text)]


TEMPLATE = BABA_TEMPLATES[0]


def make_tokenizer(templates=BABA_TEMPLATES[:3], n_names: int = 12) -> WordTokenizer:
    text = [re.sub(r"\[\w+\]", "", t) for t in templates]
    return WordTokenizer(text, list(NAMES[:n_names]) + list(PLACES[:3]) + list(OBJECTS[:3]))


# ----------------------------------------------------------------------------- generator


def test_generator_positions_orders_and_corruptions():
    tok = make_tokenizer()
    data = ioi_dataset(tok, 40, seed=3, templates=BABA_TEMPLATES[:3])
    assert set(data.order) == {"ABBA", "BABA"} and len(set(data.template.tolist())) == 3
    assert len(data.names) == 12  # names outside the vocab are dropped
    for b in range(len(data)):
        row, p = data.tokens[b], {k: int(v[b]) for k, v in data.pos.items()}
        assert row[0] == tok.bos_id and tok.encode(data.texts[b]) == row[1 : p["END"] + 1].tolist()
        assert row[p["IO"]] == data.io[b] != data.s[b]
        assert row[p["S1"]] == row[p["S2"]] == data.s[b]
        assert p["S1+1"] == p["S1"] + 1 and tok.vocab[row[p["END"]]] == " to"
        assert (p["IO"] < p["S1"]) == (data.order[b] == "ABBA") and p["S2"] > max(p["IO"], p["S1"])
        assert (row[p["END"] + 1 :] == tok.bos_id).all()
        swap = data.swap_tokens[b]
        assert swap[p["S2"]] == data.io[b]
        assert (np.delete(swap, p["S2"]) == np.delete(row, p["S2"])).all()
        abc = data.abc_tokens[b]
        fresh = abc[[p["IO"], p["S1"], p["S2"]]]
        assert len(set(fresh.tolist()) | {data.io[b], data.s[b]}) == 5
        keep = np.setdiff1d(np.arange(len(row)), [p["IO"], p["S1"], p["S2"]])
        assert (abc[keep] == row[keep]).all()
    again = ioi_dataset(tok, 40, seed=3, templates=BABA_TEMPLATES[:3])
    assert (again.tokens == data.tokens).all() and (again.abc_tokens == data.abc_tokens).all()
    other = ioi_dataset(tok, 40, seed=4, templates=BABA_TEMPLATES[:3])
    assert not (other.tokens == data.tokens).all()


def test_generator_drops_untokenizable_templates_and_rejects_few_names():
    tok = make_tokenizer(templates=BABA_TEMPLATES[:2])
    assert ioi_dataset(tok, 8, templates=BABA_TEMPLATES[:4]).templates == BABA_TEMPLATES[:2]
    with pytest.raises(ValueError, match="single-token names"):
        ioi_dataset(make_tokenizer(n_names=4), 8)


def test_generator_gpt2_keeps_names_and_every_template():
    from interp_core.tokenizers import GPT2Tokenizer

    tok = GPT2Tokenizer()
    data = ioi_dataset(tok, 30, seed=0)
    assert len(data.templates) == 15 and len(data.names) >= 90
    assert all(len(tok.encode(" " + n)) == 1 for n in data.names)
    b = 0
    assert tok.decode(data.tokens[b, 1 : data.pos["END"][b] + 1].tolist()) == data.texts[b]


# ------------------------------------------------------------- parity with TransformerLens


@pytest.fixture(scope="module")
def random_setup():
    tok = make_tokenizer()
    data = ioi_dataset(tok, 12, seed=1, templates=BABA_TEMPLATES[:3])
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=8, d_mlp=64, d_vocab=tok.d_vocab,
                      n_ctx=32)
    model = random_model(cfg, seed=5)
    return data, model, transformer_lens_model(model)


def _tl_ld(logits: torch.Tensor, data) -> torch.Tensor:
    b = torch.arange(len(data))
    end = torch.as_tensor(data.pos["END"])
    last = logits[b, end]
    return (last[b, torch.as_tensor(data.io)] - last[b, torch.as_tensor(data.s)]).mean()


def test_logit_diff_dla_attention_and_copy_match_transformer_lens(random_setup):
    data, model, tl = random_setup
    tokens = torch.as_tensor(data.tokens)
    with torch.no_grad():
        tl_logits, cache = tl.run_with_cache(tokens)
        ours = A.logit_diff_at_end(model(tokens), data)
    assert torch.allclose(ours, _tl_ld(tl_logits, data), atol=1e-5)
    b, end = torch.arange(len(data)), torch.as_tensor(data.pos["END"])
    direction = tl.W_U[:, data.io].T - tl.W_U[:, data.s].T  # [batch, d_model]
    scale = cache["ln_final.hook_scale"][b, end]  # [batch, 1]
    want = torch.zeros(2, 2)
    for layer in range(2):
        result = cache[f"blocks.{layer}.attn.hook_result"][b, end]  # [batch, head, d]
        normed = (result - result.mean(-1, keepdim=True)) / scale[:, None] * tl.ln_final.w
        want[layer] = (normed * direction[:, None]).sum(-1).mean(0)
    assert torch.allclose(A.head_dla(model, data), want, atol=1e-4)
    scores = A.attention_scores(model, data)
    for key, (q, k) in A.ATTENTION_PAIRS.items():
        qi, ki = torch.as_tensor(data.pos[q]), torch.as_tensor(data.pos[k])
        patterns = [cache[f"blocks.{l}.attn.hook_pattern"] for l in range(2)]
        tl_scores = torch.stack([p[b, :, qi, ki].mean(0) for p in patterns])
        assert torch.allclose(scores[key], tl_scores, atol=1e-6), key
    copy, neg = A.copy_scores(model, data)
    assert torch.allclose(copy, _tl_copy(tl, cache, data, 1.0))
    assert torch.allclose(neg, _tl_copy(tl, cache, data, -1.0))


def _ln(x: torch.Tensor, ln) -> torch.Tensor:
    x = x - x.mean(-1, keepdim=True)
    return x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt() * ln.w + ln.b


def _tl_copy(tl, cache, data, sign: float) -> torch.Tensor:
    """Copy score by hand: top-5 membership of the name after LN1, ±OV, final LN and W_U."""
    out = torch.zeros(2, 2)
    for layer in range(2):
        source = "blocks.0.hook_resid_pre" if layer == 0 else "blocks.0.hook_resid_post"
        hits = torch.zeros(2)
        cases = 0
        for b in range(len(data)):
            for where, name in (("IO", data.io[b]), ("S1", data.s[b]), ("S2", data.s[b])):
                x = _ln(cache[source][b, data.pos[where][b]], tl.blocks[layer].ln1)
                for h in range(2):
                    y = sign * (x @ tl.W_V[layer, h] @ tl.W_O[layer, h])
                    logits = _ln(y, tl.ln_final) @ tl.W_U
                    hits[h] += float((logits >= logits[name]).sum() - 1 < 5)
                cases += 1
        out[layer] = hits / cases
    return out


def test_head_patching_and_path_patching_match_transformer_lens(random_setup):
    data, model, tl = random_setup
    clean, swap, abc = map(torch.as_tensor, (data.tokens, data.swap_tokens, data.abc_tokens))
    grid, metric = A.head_patching(model, data, "swap")
    with torch.no_grad():
        _, clean_cache = tl.run_with_cache(clean)
        _, abc_cache = tl.run_with_cache(abc)
        ld_clean, ld_swap = _tl_ld(tl(clean), data), _tl_ld(tl(swap), data)
        want = torch.zeros(2, 2)
        for layer in range(2):
            for h in range(2):
                def patch(z, hook, h=h, layer=layer):
                    z[:, :, h] = clean_cache[f"blocks.{layer}.attn.hook_z"][:, :, h]
                    return z
                hooks = [(f"blocks.{layer}.attn.hook_z", patch)]
                ld = _tl_ld(tl.run_with_hooks(swap, fwd_hooks=hooks), data)
                want[layer, h] = (ld - ld_swap) / (ld_clean - ld_swap)
    assert math.isclose(metric.clean, float(ld_clean), abs_tol=1e-5)
    assert torch.allclose(grid, want, atol=1e-4)

    sender, receiver = (0, 1), (1, 0)
    ours = A.path_to_receivers(model, data, [receiver], "q")
    assert ours[1].isnan().all() and not ours[0].isnan().any()
    with torch.no_grad():
        def freeze(z, hook):
            layer = int(hook.name.split(".")[1])
            z = clean_cache[hook.name].clone()
            if layer == sender[0]:
                z[:, :, sender[1]] = abc_cache[hook.name][:, :, sender[1]]
            return z
        step2 = {}
        keep_q = lambda q, hook: step2.__setitem__("q", q.clone())  # noqa: E731
        hooks = [(lambda n: n.endswith("hook_z"), freeze), ("blocks.1.attn.hook_q", keep_q)]
        tl.run_with_hooks(clean, fwd_hooks=hooks)
        def set_q(q, hook):
            q[:, :, receiver[1]] = step2["q"][:, :, receiver[1]]
            return q
        ld_pp = _tl_ld(tl.run_with_hooks(clean, fwd_hooks=[("blocks.1.attn.hook_q", set_q)]), data)
    assert math.isclose(float(ours[sender]), float((ld_pp - ld_clean) / ld_clean), abs_tol=1e-4)


# ------------------------------------------------------------------ hand-built circuit


def planted_model(tok: WordTokenizer, data, gamma: float = 4.0) -> Transformer:
    """Two attention-only layers, no LN, two heads each; d_model = [tokens | inhibit | positions].

    0.0 (S-inhibition): END attends to S2 (positional QK) and writes S2's token into the
    inhibit subspace. 1.0 (name mover): END attends to name tokens, minus the inhibited one,
    and copies the attended token into the token subspace (W_U reads only that) with gain
    ``gamma``. Heads 0.1 and 1.1 are zero.
    """
    V, T = tok.d_vocab, data.tokens.shape[1]
    end, s2 = int(data.pos["END"][0]), int(data.pos["S2"][0])
    assert (data.pos["END"] == end).all() and (data.pos["S2"] == s2).all()
    d_head = V + 1
    cfg = ModelConfig(n_layers=2, d_model=2 * V + T, n_heads=2, d_head=d_head, d_mlp=None,
                      d_vocab=V, n_ctx=T, normalization_type=None)  # fmt: skip
    model = Transformer(cfg)
    names = torch.tensor(sorted(data.names.values()))
    sharp = 20.0 * math.sqrt(d_head)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.W_E[:, :V] = torch.eye(V)
        model.pos_embed.W_pos[:, 2 * V :] = torch.eye(T)
        model.unembed.W_U[:V] = torch.eye(V)
        s_inh, mover = model.blocks[0].attn, model.blocks[1].attn
        s_inh.W_Q[0, 2 * V + end, V] = math.sqrt(sharp)
        s_inh.W_K[0, 2 * V + s2, V] = math.sqrt(sharp)
        s_inh.W_V[0, :V, :V] = torch.eye(V)
        s_inh.W_O[0, :V, V : 2 * V] = torch.eye(V)
        mover.W_Q[0, 2 * V + end, V] = math.sqrt(sharp)
        mover.W_K[0, names, V] = math.sqrt(sharp)
        mover.W_Q[0, V + names, names] = -2 * sharp
        mover.W_K[0, names, names] = 1.0
        mover.W_V[0, names, names] = 1.0
        mover.W_O[0, names, names] = gamma
    return model.eval()


@pytest.fixture(scope="module")
def planted():
    tok = make_tokenizer(templates=[TEMPLATE])
    return tok, ioi_dataset(tok, 16, seed=2, templates=[TEMPLATE])


def test_planted_name_mover_and_s_inhibition_are_classified(planted):
    tok, data = planted
    model = planted_model(tok, data)
    report = A.ioi_head_report(model, data).set_index(["layer", "head"])
    assert report.attrs["ld_clean"] == pytest.approx(4.0, abs=1e-3)
    assert report.loc[(1, 0), "labels"] == ["name_mover"]
    assert report.loc[(0, 0), "labels"] == ["s_inhibition"]
    assert report.loc[(0, 1), "labels"] == [] and report.loc[(1, 1), "labels"] == []
    nm = report.loc[(1, 0), "evidence"][0]
    assert nm["end_io"][0] == pytest.approx(1.0, abs=1e-3)
    assert nm["dla"][0] == pytest.approx(4.0, abs=1e-3)
    assert nm["copy"][0] == 1.0 and report.loc[(1, 0), "neg_copy"] == 0.0
    sinh = report.loc[(0, 0), "evidence"][0]
    assert sinh["end_s2"][0] == pytest.approx(1.0, abs=1e-3)
    # ABC S2 inhibits an absent name: the mover splits IO / S1 / S2, LD -> -gamma/3
    assert sinh["path_to_nm_q"][0] == pytest.approx(-4 / 3, abs=1e-2)
    assert report.loc[(1, 0), "patch_swap"] == pytest.approx(1.0, abs=1e-3)


def test_negated_mover_is_a_negative_name_mover_and_removes_s_inhibition(planted):
    tok, data = planted
    report = A.ioi_head_report(planted_model(tok, data, gamma=-4.0), data)
    report = report.set_index(["layer", "head"])
    assert report.loc[(1, 0), "labels"] == ["negative_name_mover"]
    assert report.loc[(1, 0), "neg_copy"] == 1.0 and report.loc[(1, 0), "copy"] == 0.0
    assert report.loc[(0, 0), "labels"] == []  # no name mover queries to path-patch into


def test_thresholds_decide_labels(planted):
    tok, data = planted
    strict = A.Thresholds(attn=1.0)
    report = A.ioi_head_report(planted_model(tok, data), data, strict, path=False)
    report = report.set_index(["layer", "head"])
    assert report.loc[(1, 0), "labels"] == []
    loose = A.ioi_head_report(planted_model(tok, data), data, path=False)
    loose = loose.set_index(["layer", "head"])
    assert loose.loc[(1, 0), "labels"] == ["name_mover"] and loose.loc[(0, 0), "labels"] == []


# ------------------------------------------------------------------ GPT-2 small (S12.2)

GPT2_DIR = __import__("os").environ.get("INTERP_GPT2_DIR")


@pytest.mark.slow
@pytest.mark.skipif(not GPT2_DIR, reason="set INTERP_GPT2_DIR to a GPT-2 small save_pretrained "
                    "directory to run the IOI sanity check on real weights "
                    "(docs/methods.md §12.3)")
def test_gpt2_small_name_movers_and_s_inhibition():
    """Wang et al.: 9.6, 9.9, 10.0 lead the positive DLA; 7.3, 7.9, 8.6, 8.10 attend END->S2."""
    from interp_core.models.gpt2_hf import model_from_hf_dir
    from interp_core.tokenizers import GPT2Tokenizer

    model = model_from_hf_dir(GPT2_DIR)
    data = ioi_dataset(GPT2Tokenizer(), 100, seed=0)
    with torch.no_grad():
        logits, cache = model.run_with_cache(torch.as_tensor(data.tokens))
    assert float(A.logit_diff_at_end(logits, data)) > 2.0
    dla = A.head_dla(model, data, cache).flatten()
    top3 = {(int(i) // 12, int(i) % 12) for i in dla.topk(3).indices}
    assert top3 == {(9, 6), (9, 9), (10, 0)}, top3
    att = A.attention_scores(model, data, cache)
    for layer, head in ((7, 3), (7, 9), (8, 6), (8, 10)):
        assert att["end_s2"][layer, head] > att["end_io"][layer, head], (layer, head)
