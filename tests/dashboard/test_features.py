"""Features page on the fixture store (AppTest), its loaders and charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import features_charts, features_data
from store import StoreError
from tests.dashboard.app_helpers import app, n_charts, visit
from tests.dashboard.fixture_features import CAT_LATENT, DEAD_LATENT, S

PAGE = "app_pages/features.py"


def test_features_page_ranks_searches_and_opens_a_card(dashboard_store: str) -> None:
    at = visit(dashboard_store, "gpt-1l", PAGE)
    assert any(s.value == "Latent 0" for s in at.subheader)
    table = at.dataframe[0].value
    assert len(table) == S and table["max activation"].is_monotonic_decreasing
    assert table["latent"].iloc[0] == CAT_LATENT
    at.selectbox(key="features_rank").set_value("density").run()
    assert at.dataframe[0].value["density"].is_monotonic_decreasing
    at.text_input(key="features_find").set_value(" cat").run()
    assert CAT_LATENT in at.dataframe[0].value["latent"].tolist()
    at.number_input(key="features_latent").set_value(CAT_LATENT).run()
    assert not at.exception
    blocks = [h.value for h in at.html if "monospace" in h.value]  # top contexts, intervals
    contexts = [c for b in blocks for c in b.split("font-family:monospace")[1:]]
    assert len(blocks) == 2 and len(contexts) == 4 + 4
    assert all("rgba(253,141,60" in c for c in contexts)
    assert all("<script>" not in c for c in contexts)
    assert any("&lt;script&gt;" in c for c in contexts)
    assert n_charts(at) >= 3  # density, histogram, logit effects
    assert at.query_params["latent"] in (str(CAT_LATENT), [str(CAT_LATENT)])


def test_dead_latent_and_out_of_range_index_say_so(dashboard_store: str) -> None:
    at = visit(dashboard_store, "gpt-1l", PAGE)
    at.number_input(key="features_latent").set_value(DEAD_LATENT).run()
    assert any("never fires" in i.value for i in at.info)
    from tests.dashboard.app_helpers import app

    fresh = app(dashboard_store)  # a page load with the URL ?run=gpt-1l&latent=99999
    fresh.query_params["run"], fresh.query_params["latent"] = "gpt-1l", "99999"
    fresh.switch_page(PAGE).run()
    assert not fresh.exception
    assert [w.value for w in fresh.warning if "does not exist" in w.value] == [
        f"Latent 99999 does not exist: this SAE has latents 0 to {S - 1}; showing latent 0."]


def _does_not_exist(at) -> list[str]:
    return [w.value for w in at.warning if "does not exist" in w.value]


@pytest.mark.parametrize("asked", ["-3", str(S), "²", "5.0", "abc"])
def test_a_latent_in_the_url_that_does_not_exist_is_one_warning(dashboard_store: str,
                                                                  asked: str) -> None:
    fresh = app(dashboard_store)
    fresh.query_params["run"], fresh.query_params["latent"] = "gpt-1l", asked
    fresh.switch_page(PAGE).run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    (warned,) = _does_not_exist(fresh)
    assert warned.endswith(f"this SAE has latents 0 to {S - 1}; showing latent 0.")
    assert any(s.value == "Latent 0" for s in fresh.subheader)


def test_an_out_of_range_latent_in_the_widget_is_a_warning_not_a_traceback(
        dashboard_store: str) -> None:  # fmt: skip
    at = app(dashboard_store, "gpt-1l")
    at.session_state["features_latent"] = S + 5  # left over from a run with a larger SAE
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _does_not_exist(at) == [f"Latent {S + 5} does not exist: this SAE has latents 0 "
                                   f"to {S - 1}; showing latent 0."]
    at.number_input(key="features_latent").set_value(-1).run()  # the widget keeps its bounds
    assert not at.exception and any(s.value == "Latent 0" for s in at.subheader)


def test_card_refuses_a_latent_out_of_range(dashboard_store: str) -> None:
    for bad in (-1, S, 10**9):
        with pytest.raises(StoreError, match=f"latent {bad} does not exist: this SAE has "
                                             f"latents 0 to {S - 1}"):
            features_data.card(dashboard_store, "gpt-1l", bad)
    assert [features_data.latent_index(v, S) for v in ("7", 7, np.int64(7), S - 1)] == \
        [7, 7, 7, S - 1]
    assert all(features_data.latent_index(v, S) is None
               for v in ("-1", "²", " 7", "7.0", 7.0, True, None, S, -1))


def test_runs_without_an_sae_say_why(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    text = " ".join(x.value for x in [*at.info, *at.warning, *at.markdown, *at.error])
    assert "sparse autoencoder" in text


def test_card_reads_one_latent(dashboard_store: str) -> None:
    card = features_data.card(dashboard_store, "gpt-1l", CAT_LATENT)
    assert [c["tokens"][c["highlight"]] for c in card["top"]] == [" cat"] * 4
    assert card["logits"]["token"].iloc[0] == " sat" and list(card["logits"]["side"]) == \
        ["up"] * 3 + ["down"] * 3
    assert card["top"][0]["activation"] >= card["top"][-1]["activation"]
    assert len(card["tokens"] if "tokens" in card else card["top"][1]["tokens"]) == 4  # pad cut
    dead = features_data.card(dashboard_store, "gpt-1l", DEAD_LATENT)
    assert dead["top"] == [] and dead["intervals"] == []
    assert abs(features_data.metrics(dashboard_store, "gpt-1l")["fve"] - 0.87) < 1e-6


def test_rank_latents_by_token_and_by_text() -> None:
    table = pd.DataFrame({"latent": [0, 1, 2], "max activation": [1.0, 3.0, 2.0],
                          "density": [0.5, 0.1, 0.2], "logit effect": [0.3, 0.2, 0.1],
                          "search": [" the\n a", " cat\n the", " Catalog"]})
    assert features_data.rank_latents(table, "max activation")["latent"].tolist() == [1, 2, 0]
    assert features_data.rank_latents(table, "density")["latent"].tolist() == [0, 2, 1]
    assert features_data.rank_latents(table, "density", " the")["latent"].tolist() == [0, 1]
    assert features_data.rank_latents(table, "density", "cat", "text")["latent"].tolist() == [2, 1]
    by_id = features_data.rank_latents(table, "density", "#1", "token", ["x", " cat"])
    assert by_id["latent"].tolist() == [1]
    assert features_data.rank_latents(table, "density", "#2", "text")["latent"].tolist() == [2]


def test_chart_builders() -> None:
    html = features_charts.context_html(["a", "<b>", " c"], [0.0, 2.0, 1.0], 1, 2.0)
    assert "<b>" not in html and "&lt;b&gt;" in html and 'title="2.000"' in html
    examples = [{"tokens": ["a", "<b>"], "values": [0.5, 2.0], "highlight": 1,
                 "activation": 2.0}, {"tokens": ["c"], "values": [1.25], "highlight": 0,
                                      "activation": 1.25}]  # fmt: skip
    block = features_charts.contexts_html(examples, 2.0)
    assert block.count("font-family:monospace") == 2 and "<b>" not in block
    assert block.index("2.000</code>") < block.index("&lt;b&gt;") < block.index("1.250</code>")
    spec = features_charts.density_chart(np.array([0.0, 0.01, 0.2, 0.002])).to_dict()
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert values[0] == {"bin": "dead", "latents": 1} and sum(v["latents"] for v in values) == 4
