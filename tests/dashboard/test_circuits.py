"""Circuits page on a store written by the real circuit step (AppTest), circuits_data, charts."""

from __future__ import annotations

import numpy as np
import altair as alt
import pandas as pd

from dashboard import circuits_charts, circuits_data, data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/circuits.py"


def test_two_layer_run_shows_composition_and_a_head_circuit(steps_store) -> None:
    at = visit(steps_store, "two", PAGE)
    assert at.title[0].value == "Circuits"
    assert n_charts(at) == 3 + 3 + 2  # copying maps, Q/K/V heatmaps, OV and QK bars
    assert [t.label for t in at.tabs] == ["K (induction)", "Q", "V"]
    at.toggle(key="circuits_subtract").set_value(False).run()
    assert not at.exception
    at.selectbox(key="circuits_head").set_value("1.2").run()
    at.text_input(key="circuits_query").set_value("#4").run()
    assert not at.exception and at.selectbox(key="circuits_token").value == 4


def test_one_layer_run_shows_skip_trigrams(steps_store) -> None:
    at = visit(steps_store, "one", PAGE)
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["head", "source", "destination", "predicted"]
    at.toggle(key="circuits_trigram_copy").set_value(True).run()
    assert not at.exception and at.dataframe[0].value["copying"].all()


def test_circuits_page_without_data(steps_store, dashboard_store) -> None:
    at = visit(steps_store, "zero", PAGE)
    assert "no circuit analysis" in at.info[0].value
    at = visit(dashboard_store, "bigram-0l", PAGE)  # the steps record says why
    assert "skipped it, because a 0-layer model has no attention heads" in at.info[0].value
    at = visit(dashboard_store, "attn-only-2l", PAGE)  # synthetic: no per-head weights stored
    assert any("no stored weights" in i.value for i in at.info)


def test_numpy_circuits_equal_the_stored_torch_rows(steps_store) -> None:
    stored_ids = data.read_array(steps_store, "two", "circuits/ov_top_id")
    stored_qk = data.read_array(steps_store, "two", "circuits/qk_top_id")
    tokens = data.read_array(steps_store, "two", "circuits/token")
    for layer, head, i in ((0, 1, 0), (1, 2, 3)):
        ov, qk = circuits_data.head_circuit(steps_store, "two", layer, head, int(tokens[i]), k=4)
        np.testing.assert_array_equal(ov["id"], stored_ids[layer, head, i, :4])
        np.testing.assert_array_equal(qk["id"], stored_qk[layer, head, i, :4])


def test_composition_by_mode_name(dashboard_store) -> None:
    raw = data.read_array(dashboard_store, "attn-only-2l", "circuits/comp")  # [mode, ...]
    k = circuits_data.composition(dashboard_store, "attn-only-2l", "K")
    assert len(k) == 4 * 4  # layer 0 heads -> layer 1 heads
    assert k.set_index(["src", "dst"]).loc[("0.1", "1.2"), "score"] == float(raw[1, 0, 1, 1, 2])
    assert circuits_data.composition_baseline(dashboard_store, "attn-only-2l") == 0.1


def test_chart_specs() -> None:
    heads = pd.DataFrame({"layer": [0, 0], "head": [0, 1], "name": ["0.0", "0.1"],
                          "copying": [0.9, -0.5], "ov_top1": [0.2, 0.4]})
    spec = circuits_charts.copying_map(heads).to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [-1, 1]
    spec = circuits_charts.copying_map(heads, "ov_top1").to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 1]
    comp = pd.DataFrame({"src": ["0.0", "0.1"], "dst": ["1.0", "1.0"], "score": [0.3, -0.1]})
    spec = circuits_charts.composition_heatmap(comp, "K").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [-0.3, 0.3]
    assert spec["title"] == "K-composition"


def test_copying_versus_top1_is_explained_in_place() -> None:
    table = pd.DataFrame({"layer": [0, 1], "head": [0, 0], "name": ["0.0", "1.0"],
                          "copying": [0.89, 0.1], "ov_top1": [0.0, 0.1], "ov_top5": [0.2, 0.3]})
    gap = circuits_data.copying_vs_top1(table)
    assert gap == {"name": "0.0", "copying": 0.89, "ov_top1": 0.0, "ov_top5": 0.2}
    assert circuits_data.copying_vs_top1(table.drop(columns=["ov_top1"])) is None
    spec = circuits_charts.copying_map(table, "copying").to_dict()
    assert spec["layer"][0]["encoding"]["color"]["legend"]["orient"] == "bottom"


def test_circuits_page_explains_the_gap(steps_store) -> None:
    at = visit(steps_store, "two", PAGE)
    table = circuits_data.copying_table(steps_store, "two")
    if circuits_data.copying_vs_top1(table) is not None:
        (info,) = [i for i in at.info if i.value.startswith("**Why head")]
        assert "copying" in info.value and "top-1" in info.value


def test_gpt2_sized_maps_fit() -> None:
    """12 x 12 heads: the copying map prints no values, composition is in layer order, small cells."""
    heads = pd.DataFrame([{"layer": l, "head": h, "name": f"{l}.{h}", "copying": 0.1}
                          for l in range(12) for h in range(12)])
    assert len(circuits_charts.copying_map(heads).to_dict()["layer"]) == 1  # cells only
    assert len(circuits_charts.copying_map(heads[heads["head"] < 4]).to_dict()["layer"]) == 2
    comp = pd.DataFrame([{"src": f"{a}.{h}", "dst": f"{b}.{g}", "score": 0.0}
                         for a in range(12) for h in range(12) for b in range(a + 1, 12)
                         for g in range(12)])
    with alt.data_transformers.disable_max_rows():  # Streamlit sends the rows itself
        spec = circuits_charts.composition_heatmap(comp, "K").to_dict()
    sort = spec["encoding"]["y"]["sort"]
    assert sort[:3] == ["0.0", "0.1", "0.2"] and sort.index("0.10") > sort.index("0.9")
    assert spec["width"]["step"] * comp["dst"].nunique() <= 640
