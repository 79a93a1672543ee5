"""Findings: each step's ``describe`` on hand-made results, the result and the null wording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interp_core.analysis import LABEL_RULES, PHASE_RULE
from jobs.analyze_model import merge_findings
from jobs.findings import Finding
from jobs.steps import (
    attribution,
    bigrams,
    circuits,
    dynamics,
    embeddings,
    heads,
    neurons,
    patching,
)


def _kinds(found: list[Finding]) -> list[str]:
    return [f.kind for f in found]


def test_a_finding_is_plain_json_and_checks_its_kind():
    f = Finding(
        "x",
        "result",
        {"heads": [{"layer": np.int64(1), "head": 2}], "values": (np.float32(0.5), float("nan"))},
    )
    assert json.loads(json.dumps(f.to_dict())) == {
        "text": "x",
        "kind": "result",
        "refs": {"heads": [{"layer": 1, "head": 2}], "values": [0.5, None]},
    }
    with pytest.raises(ValueError, match="kind"):
        Finding("x", "maybe")


def test_heads_result_names_the_labelled_heads_with_their_scores():
    induction = np.array([[0.0, 0.1, 0.0], [0.2, 0.67, 0.47]])
    labels = np.array(
        [["content", "mixed", "content"], ["mixed", "induction", "induction"]], dtype=object
    )
    found = heads.describe({"induction": induction}, labels)
    first = found[0]
    assert first.kind == "result"
    assert first.text.startswith(
        "heads 1.1 and 1.2 are induction heads (induction score 0.67, 0.47"
    )
    assert first.refs["heads"] == [{"layer": 1, "head": 1}, {"layer": 1, "head": 2}]
    assert first.refs["threshold"] == LABEL_RULES[0][2] and "layer" not in first.refs
    assert found[-1].text.startswith("4 of 6 heads match no score rule: 2 content and 2 mixed")


def test_heads_null_gives_the_best_score_and_the_threshold_from_label_rules():
    induction = np.array([[0.0, 0.003], [0.002, 0.01]])
    labels = np.array([["content", "mixed"], ["content", "content"]], dtype=object)
    found = heads.describe({"induction": induction}, labels)
    assert found[0].kind == "null"
    assert found[0].text == (
        "no head reaches the induction threshold 0.4: the best induction score is 0.01 (head 1.1)"
    )
    assert found[0].refs["layer"] == 1 and found[0].refs["head"] == 1
    assert found[-1].text.startswith(
        "none of the 4 heads matches a score rule: 3 content and 1 mixed"
    )
    custom = heads.describe(
        {"induction": induction}, labels, rules=[("induction", "induction", 0.02)]
    )
    assert "threshold 0.02:" in custom[0].text  # the threshold is read, not written in


def test_heads_null_when_an_earlier_rule_took_the_head():
    scores = {"induction": np.array([[0.9]]), "duplicate_token": np.array([[0.6]])}
    found = heads.describe(scores, np.array([["induction"]], dtype=object))
    dup = next(f for f in found if f.refs.get("label") == "duplicate_token")
    assert dup.kind == "null" and "earlier rule names it induction" in dup.text


def _dynamics(max_by_ckpt, icl=-0.4):
    steps = np.array([10, 100, 1000, 2000])
    tokens = steps * 5000
    scores = np.zeros((4, 2, 2))
    scores[:, 1, 1] = max_by_ckpt
    return dynamics.describe(
        steps,
        tokens,
        scores,
        np.array([0.0, 0.0, -0.1, icl]),
        window=None if max(max_by_ckpt) <= PHASE_RULE["above"] else (100, 1000),
    )


def test_dynamics_phase_change_in_tokens_and_its_absence():
    found = _dynamics([0.0, 0.05, 0.6, 0.67])
    assert _kinds(found) == ["result", "result"]
    assert "between 500k and 5M training tokens (steps 100 to 1000)" in found[0].text
    assert "head 1.1 leads with 0.67" in found[0].text and found[0].refs["tokens_seen"] == [
        500_000,
        5_000_000,
    ]
    assert "late tokens' loss is 0.40 nats below" in found[1].text
    null = _dynamics([0.0, 0.005, 0.01, 0.01], icl=0.0)
    assert _kinds(null) == ["null", "null"]
    assert null[0].text.startswith(
        f"no phase change: the induction score (max over heads) never rose "
        f"from below {PHASE_RULE['below']} to above {PHASE_RULE['above']}"
    )
    early = dynamics.describe(
        np.array([1, 2]),
        np.array([10, 20]),
        np.full((2, 1, 1), 0.8),
        np.array([np.nan, np.nan]),
        None,
    )
    assert (
        "already 0.80 at the first kept checkpoint" in early[0].text
        and "not measured" in early[1].text
    )


def test_attribution_top_components_and_the_null():
    comps = [
        {"component": "embed", "layer": -1},
        {"component": "L0H1", "layer": 0, "head": 1},
        {"component": "L1H0", "layer": 1, "head": 0},
    ]
    found = attribution.describe(
        comps,
        np.array([0.3, -0.2, 1.25]),
        ["0_pre", "1_pre", "final_post"],
        np.array([0.1, 0.2, 0.35]),
        n_prompts=8,
    )
    assert found[0].kind == "result" and "L1H0 (+1.25) and embed (+0.30)" in found[0].text
    assert found[0].refs["components"][0] == {"component": "L1H0", "layer": 1, "head": 0}
    assert "10% of positions after the embeddings (0_pre) and 35% at the output" in found[1].text
    null = attribution.describe(
        comps,
        np.array([-0.3, -0.2, 0.001]),
        ["0_pre", "final_post"],
        np.array([0.0, 0.0]),
        n_prompts=8,
    )
    assert null[0].kind == "null" and "the largest is L1H0 (+0.00" in null[0].text


def test_neurons_dead_count_and_the_none_null():
    norms = np.array([[50.0, 1.0, 1.0], [60.0, 3.0, 3.0]])  # BOS at pos 0 is left out
    dead = np.zeros((1, 10), dtype=np.int32)
    none = neurons.describe(norms, ["0_pre", "final_post"], 40, dead=dead, saturated=dead)
    assert "from 1.00 at 0_pre to 3.00 at final_post" in none[0].text
    assert none[1].kind == "null" and "every one of the 10 neurons fires" in none[1].text
    dead[0, :3] = 1
    some = neurons.describe(
        norms, ["0_pre", "final_post"], 40, dead=dead, saturated=np.zeros_like(dead)
    )
    assert some[1].kind == "result" and some[1].text.startswith("3 of 10 neurons (30%) never fire")
    attn_only = neurons.describe(norms, ["0_pre", "final_post"], 0)
    assert attn_only[1].kind == "null" and "no MLP" in attn_only[1].text


def test_patching_restoring_heads_no_signal_and_skipped():
    meta = {
        "clean_logit_diff": 3.2,
        "corrupted_logit_diff": -1.1,
        "signal": True,
        "signal_note": "ok",
    }
    z = np.array([[0.02, 0.05], [0.93, 0.3]])
    found = patching.describe("induction", meta, z)
    assert _kinds(found) == ["result"]
    assert found[0].text.startswith(
        "patching heads 1.0 and 1.1 one at a time restores 0.93, 0.30 of the logit difference"
    )
    assert found[0].refs["experiment"] == "induction"
    noise = patching.describe(
        "induction",
        meta
        | {
            "clean_logit_diff": -0.631,
            "corrupted_logit_diff": -0.583,
            "signal": False,
            "signal_note": "within noise",
        },
        z,
    )
    assert _kinds(noise) == ["null"]
    assert "nothing to explain: clean logit difference -0.631 vs corrupted -0.583" in noise[0].text
    flat = patching.describe("ioi", meta, np.full((2, 2), 0.04))
    assert _kinds(flat) == ["null"] and "no single head restores 0.1" in flat[0].text
    inverted = patching.describe(
        "ioi", meta | {"clean_logit_diff": 0.2, "corrupted_logit_diff": 0.9}, z
    )
    assert _kinds(inverted) == ["caveat", "result"]
    skipped = patching.describe(
        "ioi", {"skipped": "a 0-layer model has no components to patch"}, None
    )
    assert skipped[0].kind == "null" and "did not run" in skipped[0].text


def test_bigrams_agreement_against_the_guess_baseline():
    summary = {
        "corpus": True,
        "agreement_top": 500,
        "top1_agreement_top500": 0.43,
        "unigram_agreement_top500": 0.12,
        "mean_kl": 1.234,
    }
    found = bigrams.describe(summary)
    assert found[0].kind == "result" and "43% of the 500 most frequent tokens" in found[0].text
    assert "(always guessing the most frequent token: 12%)" in found[0].text
    worse = bigrams.describe(summary | {"top1_agreement_top500": 0.1})
    assert worse[0].kind == "null" and "no better than always guessing" in worse[0].text
    assert bigrams.describe({"corpus": False})[0].kind == "null"


def test_embeddings_share_and_the_low_share_caveat():
    found = embeddings.describe(
        ["W_E", "W_U"], np.array([[0.5, 0.2, 0.1], [0.1, 0.05, 0.01]]), 1000
    )
    assert _kinds(found) == ["result", "caveat"]
    assert "70% (W_E) and 15% (W_U)" in found[0].text and found[1].refs["matrices"] == ["W_U"]
    assert _kinds(embeddings.describe(["W_E"], np.array([[0.6, 0.3]]), 10)) == ["result"]


def test_circuits_copying_caveat_and_composition():
    copying = np.array([[0.89, 0.1], [0.2, -0.7]])
    top1 = np.array([[0.0, 0.0], [0.0, 0.0]])
    top5 = np.array([[0.02, 0.0], [0.0, 0.0]])
    raw = np.zeros((3, 2, 2, 2, 2))
    raw[1, 0, 0, 1, 1] = 0.42
    found = circuits.describe(copying, top1, top5, 4096, comp_raw=raw, baseline=0.13)
    kinds = {f.kind: f for f in found}
    assert found[0].text.startswith(
        "head 0.0 has a copying OV circuit (eigenvalue copying score 0.89"
    )
    caveat = kinds["caveat"]
    assert "copying score 0.89 but OV top-1 accuracy 0.00" in caveat.text
    assert (
        "eigenvalues are mostly positive" in caveat.text
        and "single most raised token" in caveat.text
    )
    assert caveat.refs["layer"] == 0 and caveat.refs["values"] == [pytest.approx(0.89), 0.0]
    assert any("head 1.1 is anti-copying" in f.text for f in found)
    comp = next(f for f in found if "composition" in f.text)
    assert comp.kind == "result" and "K-composition: head 0.0 -> head 1.1 (0.42, 3.2x" in comp.text
    weak = circuits.describe(
        np.full((2, 1), 0.1),
        np.full((2, 1), 0.9),
        np.ones((2, 1)),
        100,
        comp_raw=np.full((3, 2, 1, 2, 1), 0.15),
        baseline=0.13,
    )
    assert weak[0].kind == "null" and "highest eigenvalue copying score is 0.10" in weak[0].text
    assert weak[-1].kind == "null" and "no composition score reaches 2x" in weak[-1].text
    assert not any(f.kind == "caveat" for f in weak)


def test_merge_keeps_other_steps_and_replaces_those_that_ran():
    old = {"heads": [{"text": "old"}], "circuits": [{"text": "c"}], "patching": [{"text": "p"}]}
    new = {"heads": [{"text": "new"}]}
    merged = merge_findings(old, ["heads", "patching"], new)
    assert merged == {"heads": [{"text": "new"}], "circuits": [{"text": "c"}]}
    assert list(merge_findings(None, ["circuits", "heads"], {"circuits": [1], "heads": [2]})) == [
        "heads",
        "circuits",
    ]


def test_fmt_pct_keeps_small_shares_visible():
    """Under 1% keeps a decimal (a random GPT-2's PCs hold ~0.4%); the dashboard's twin agrees."""
    from dashboard.embeddings_data import share_text
    from jobs.findings import fmt_pct

    shares = (0.0, 0.004, 0.0123, 0.37, 1.0)
    assert [fmt_pct(x) for x in shares] == ["0%", "0.4%", "1%", "37%", "100%"]
    assert [fmt_pct(x) for x in shares] == [share_text(x) for x in shares]
