"""IOI page on the fixture store (AppTest), its loaders and charts."""

from __future__ import annotations

import numpy as np

from dashboard import ioi_charts, ioi_data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/ioi.py"


def test_ioi_page(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert [m.value for m in at.metric] == ["+3.00"]
    assert n_charts(at) == 3  # LD histogram, head map, circuit
    assert "name mover" in at.dataframe[0].value["class"].tolist()
    at.selectbox(key="ioi_score").set_value("path_to_sinh_v").run()
    assert not at.exception and any("was not computed" in i.value for i in at.info)
    lacking = visit(dashboard_store, "gpt-1l", PAGE)
    shown = [getattr(x, "value", "") or "" for x in list(lacking.info) + list(lacking.markdown)]
    assert any("IOI results" in text for text in shown)


def test_ioi_loaders(dashboard_store: str) -> None:
    table = ioi_data.class_table(dashboard_store, "attn-only-2l")
    assert set(table["head"]) == {"1.0", "0.1"}
    assert "path_to_nm_q = -0.4 < -0.05" in table.set_index("head").loc["0.1", "evidence"]
    nodes, edges = ioi_data.circuit(dashboard_store, "attn-only-2l")
    assert len(nodes) == 2
    cols = ["src_layer", "src_head", "dst_layer", "dst_head", "input"]
    assert edges[cols].values.tolist() == [[0, 1, 1, 0, "q"]]
    chart = ioi_charts.circuit_chart(nodes, edges, 2, 4).to_dict()
    assert len(chart["layer"]) == 3
    empty = ioi_charts.head_map(np.full((2, 2), np.nan), "dla", unit=False).to_dict()
    assert empty["mark"]["type"] == "rect"
