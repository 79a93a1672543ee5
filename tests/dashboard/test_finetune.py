"""Fine-tuning page (AppTest) on the fixture store, its loaders and its charts."""

from __future__ import annotations

from dashboard import finetune_charts, finetune_data
from tests.dashboard.app_helpers import n_charts, page_text, visit

PAGE = "app_pages/finetune.py"


def test_finetune_page_shows_curve_maps_and_drift(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert at.title[0].value == "Fine-tuning"
    assert n_charts(at) == 3  # trade-off, relative-change map, spectrum
    text = page_text(at)
    assert "stdlib" in text and "shakespeare" in text
    last = at.dataframe[0].value
    assert list(last["variant"]) == ["lora r=2", "lora r=8", "full"]
    assert list(last["step"]) == [16, 16, 8]
    at.toggle(key="finetune_changed_only").set_value(True).run()
    drift = at.dataframe[1].value
    assert list(drift["head"]) == ["1.1"] and drift["before"].iloc[0] == "induction"
    at.selectbox(key="finetune_matrix").set_value("W_K").run()
    assert not at.exception
    assert any("W_K did not change" in i.value for i in at.info)
    at.selectbox(key="finetune_metric").set_value("stable_rank").run()
    assert not at.exception and at.query_params["metric"] == "stable_rank"


def test_finetune_page_says_when_the_run_is_not_a_fine_tune(dashboard_store: str) -> None:
    at = visit(dashboard_store, "gpt-1l", PAGE)
    assert any("has no fine-tuning analysis" in i.value for i in at.info)
    assert n_charts(at) == 0


def test_loaders_drop_padding(dashboard_store: str) -> None:
    curve = finetune_data.tradeoff(dashboard_store, "attn-only-2l")
    assert len(curve) == 6 + 6 + 5 and curve["forgetting"].notna().all()
    assert (curve["step"] >= 0).all()
    spectrum = finetune_data.spectra(dashboard_store, "attn-only-2l", "W_Q")
    assert set(spectrum["layer"]) == {0, 1} and spectrum.groupby("layer")["sigma"].is_monotonic_decreasing.all()
    cells = finetune_data.change_map(dashboard_store, "attn-only-2l", "relative")
    assert len(cells) == 2 * 4 and set(cells["matrix"]) == {"W_Q", "W_K", "W_V", "W_O"}


def test_chart_builders_encode_what_the_page_says() -> None:
    table = finetune_data.pd.DataFrame({"variant": ["a", "a"], "step": [0, 4], "gain": [0.0, 0.3],
                                        "forgetting": [0.0, 0.1], "kl": [0.0, 0.2]})
    spec = finetune_charts.tradeoff_chart(table).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point", "text"]
    assert spec["layer"][0]["encoding"]["x"]["field"] == "gain"
    heat = finetune_charts.change_heatmap(
        finetune_data.pd.DataFrame({"layer": [0], "matrix": ["W_Q"], "value": [0.1]}),
        "relative change", ["W_Q"]).to_dict()
    assert heat["encoding"]["color"]["title"] == "relative change"
    spectrum = finetune_charts.spectrum_chart(
        finetune_data.pd.DataFrame({"layer": [0, 0], "index": [0, 1], "sigma": [1.0, 0.0]})).to_dict()
    assert spectrum["encoding"]["y"]["scale"]["type"] == "log"
    assert len(next(iter(spectrum["datasets"].values()))) == 1  # the zero is dropped (log axis)
