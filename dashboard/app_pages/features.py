"""Features: a sparse autoencoder on the residual stream, its metrics, its latents ranked and
searchable, and one latent's card (contexts coloured token by token, activation histogram,
logit effects, nearest latents), like a Neuronpedia feature page."""

import streamlit as st

from dashboard import data, widgets
from dashboard import features_charts as charts
from dashboard import features_data as fd
from dashboard.text import escape_markdown as esc
from dashboard.text import inline_code

root, run_id = widgets.open_page(
    "Features (sparse autoencoder)",
    "A sparse autoencoder trained on one residual point splits the stream into latents that "
    "are each active on few tokens. First how well it reconstructs (variance explained, "
    "cross-entropy recovered when its output replaces the stream), then every latent ranked, "
    "then one latent: the contexts where it fires most and samples across its whole "
    "activation range, each token coloured by its activation, and the tokens its decoder "
    "direction pushes up and down.",
    needs=widgets.Needs("sae", "sae/metric_value", "sparse autoencoder",
                        why="it needs a model with MLP blocks (the full rung)"))

m, how = fd.metrics(root, run_id), fd.settings(root, run_id)
S = fd.n_latents(root, run_id)
st.subheader("Reconstruction")
st.caption(f"{esc(how.get('architecture', 'SAE'))} SAE on {inline_code(how.get('hook', '?'))} "
           f"with {S} latents, measured on {int(m['tokens'])} non-BOS tokens "
           "(docs/methods.md §9.4).")
cols = st.columns(5)
cols[0].metric("Variance explained", f"{m['fve']:.3f}", help="1 − Σ‖x − x̂‖² / Σ‖x − x̄‖²")
cols[1].metric("L0", f"{m['l0']:.1f}", help="mean number of active latents per token")
cols[2].metric("CE recovered", f"{m['ce_rec']:.3f}",
               help=f"against zero ablation; {m['ce_rec_mean']:.3f} against mean ablation")
cols[3].metric("ΔCE (nats)", f"{m['dce']:.4f}", help="CE with the SAE spliced in − clean CE")
cols[4].metric("Dead / dense", f"{m['dead']:.0%} / {m['dense']:.0%}",
               help="never fire on the eval set / fire on more than 10% of tokens")
table = fd.latent_table(root, run_id)
st.altair_chart(charts.density_chart(table["density"].to_numpy()), width="stretch")

st.subheader("Latents, ranked")
c_by, c_mode, c_find = st.columns([1, 1, 2])
widgets.link("features_rank", list(fd.RANKINGS), param="rank")
by = c_by.selectbox("Rank by", list(fd.RANKINGS), key="features_rank")
widgets.link("features_mode", list(fd.SEARCH_MODES), param="mode")
mode = c_mode.selectbox("Search by", fd.SEARCH_MODES, key="features_mode")
widgets.link("features_find", param="find")
query = c_find.text_input("Find", key="features_find",
                          placeholder="token: ' the' or #12 · text: any part of a token")
ranked = fd.rank_latents(table, by, query, mode, data.token_strs(root, run_id))
st.session_state["features_ranked"] = ranked["latent"].tolist()


def _pick_row() -> None:
    rows = st.session_state["features_table"]["selection"]["rows"]
    if rows and rows[0] < len(st.session_state.get("features_ranked", [])):
        st.session_state["features_latent"] = st.session_state["features_ranked"][rows[0]]


st.dataframe(ranked, hide_index=True, height=min(320, 38 + 35 * len(ranked)),
             key="features_table", on_select=_pick_row, selection_mode="single-row",
             column_config={"density": st.column_config.NumberColumn(format="percent")})
st.caption(f"{len(ranked)} of {S} latents" + (" match" if query else "") + "; click a row to "
           "open its card. Search looks in each latent's activating tokens (of its top "
           "contexts) and its top logit tokens.")

asked = st.session_state.get("features_latent", st.query_params.get("latent"))  # or the URL's
widgets.link("features_latent", range(S), param="latent")
latent = int(st.number_input("Latent", 0, S - 1, key="features_latent"))
if asked is not None and fd.latent_index(asked, S) is None:
    st.warning(f"Latent {esc(f'{asked!s:.20}')} does not exist: this SAE has latents 0 to {S - 1}; "
               f"showing latent {latent}.", icon=":material/warning:")
c = fd.card(root, run_id, latent)
st.subheader(f"Latent {latent}")
st.markdown(f"Fires on **{c['density']:.2%}** of tokens; largest activation "
            f"**{c['max_act']:.3f}**.")
if not c["top"]:
    st.info("This latent never fires on the evaluation tokens (dead), so it has no contexts.",
            icon=":material/info:")
c_hist, c_logits = st.columns(2)
with c_hist:
    st.markdown("**Activation histogram** (tokens where it fires).")
    st.altair_chart(charts.activation_histogram(*c["hist"]), width="stretch")
    st.markdown("**Nearest latents** by decoder cosine.")
    st.dataframe(c["neighbors"], hide_index=True, height=min(250, 38 + 35 * len(c["neighbors"])))
with c_logits:
    st.markdown("**Logit effects**: tokens its decoder direction pushes up and down (direct "
                "path only).")
    st.altair_chart(charts.logit_bars(c["logits"]), width="stretch")

vmax = max([x["activation"] for x in c["top"]], default=c["max_act"] or 1.0)
for title, examples in (("Top contexts", c["top"]), ("Across the activation range",
                                                      c["intervals"])):
    if not examples:
        continue
    st.markdown(f"**{title}**" + (": one per window, the activating token outlined; hover a "
                                  "token for its activation." if title == "Top contexts" else
                                  ": random samples from evenly spaced activation intervals, "
                                  "highest first."))  # fmt: skip
    ordered = examples if title == "Top contexts" else sorted(
        examples, key=lambda x: -x["activation"])
    st.html(charts.contexts_html(ordered, vmax))  # one element for all: a card opens faster
