"""Neurons and residual stream: residual norms, dead/saturated neurons, ranked neurons, one
neuron's histogram, logit effects and top contexts coloured token by token."""

import streamlit as st

from dashboard import data, widgets
from dashboard import neurons_charts as charts
from dashboard import neurons_data as nd
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Neurons and residual stream",
    "The residual stream's mean norm at each layer and position, then the MLP neurons: how "
    "many never fire (dead: pre-activation never above 0) or sit in the flat negative regime "
    "(saturated: pre < −3 on almost every token), the distribution of activations, every "
    "neuron ranked, and one neuron: its activations, the tokens it pushes up and down, and "
    "the prompts on which it fires most, each token coloured by the activation.",
    needs=widgets.Needs("neurons", "neurons/resid_norm", "residual-stream statistics"))

norms, labels = nd.resid_norms(root, run_id)
st.subheader("Residual stream norm")
st.altair_chart(charts.resid_norm_chart(norms, labels), width="stretch")

if not data.has_array(root, run_id, "neurons/fire_rate"):
    st.info(f"Run **{esc(run_id)}** has no MLP neurons (attention-only or 0-layer model).",
            icon=":material/info:")
    st.stop()

st.subheader("Dead and saturated neurons")
rules = nd.definitions(root, run_id)
st.caption(f"Fires: {esc(rules['firing'])}; dead: never fires; saturated: "
           f"{esc(rules['saturation'])}.")
st.dataframe(nd.neuron_counts(root, run_id), hide_index=True)
sizes = data.array_sizes(root, run_id, "neurons/top_prompt")
widgets.link("neurons_layer", range(sizes["layer"]), param="layer")
layer = st.selectbox("Layer", range(sizes["layer"]), key="neurons_layer")
counts = data.read_array(root, run_id, "neurons/hist_counts", layer=layer)
edges = data.read_array(root, run_id, "neurons/hist_edges", layer=layer)
st.altair_chart(charts.histogram_chart(counts, edges,
                                       x_title="post-activation (all neurons, all tokens)"),
                width="stretch")

st.subheader(f"Neurons of layer {layer}, ranked")
c_by, c_find = st.columns([1, 2])
widgets.link("neurons_rank", list(nd.RANKINGS), param="rank")
by = c_by.selectbox("Rank by", list(nd.RANKINGS), key="neurons_rank")
widgets.link("neurons_find", param="find")
query = c_find.text_input("Find by token", key="neurons_find",
                          placeholder="e.g. ' the' (top logit or context token), or #12")
ranked = nd.rank_neurons(nd.neuron_table(root, run_id, layer), by, query)
st.session_state["neurons_ranked"] = ranked["neuron"].tolist()


def _pick_row() -> None:
    rows = st.session_state["neurons_table"]["selection"]["rows"]
    if rows and rows[0] < len(st.session_state.get("neurons_ranked", [])):
        st.session_state["neurons_neuron"] = st.session_state["neurons_ranked"][rows[0]]


st.dataframe(ranked, hide_index=True, height=min(320, 38 + 35 * len(ranked)), key="neurons_table",
             on_select=_pick_row, selection_mode="single-row",
             column_config={"fire rate": st.column_config.NumberColumn(format="percent")})
st.caption(f"{len(ranked)} of {sizes['d_mlp']} neurons; click a row to look at that neuron. "
           "Max activation: its largest activation on the evaluation tokens; fire rate: share "
           "of tokens with pre > 0; logit effect: its largest direct-path logit effect.")

widgets.link("neurons_neuron", range(sizes["d_mlp"]), param="neuron")
neuron = int(st.number_input("Neuron", 0, sizes["d_mlp"] - 1, key="neurons_neuron"))
st.subheader(f"Neuron L{layer}N{neuron}")
acts = nd.neuron_activations(root, run_id, layer, neuron)
c_hist, c_logits = st.columns(2)
with c_hist:
    st.markdown(f"**Its activations.** Fires (pre > 0) on "
                f"{nd.fire_rate(root, run_id, layer, neuron):.1%} of tokens.")
    if acts is not None:
        st.altair_chart(charts.values_histogram(acts, x_title="post-activation of this neuron "
                                                "(every evaluation token)"), width="stretch")
    else:
        st.caption("This run does not store the activations (`acts/mlp_post`), so the "
                   "neuron's own histogram cannot be drawn; run the `activations` step.")
with c_logits:
    effects = nd.logit_effects(root, run_id, layer, neuron)
    st.markdown("**Tokens it pushes up and down** (direct path, approximate).")
    if len(effects):
        st.altair_chart(charts.logit_effect_bars(effects), width="stretch")
        if set(effects["side"]) == {"up"}:
            st.caption("Only the top effects are stored (no `weights/W_out` for the bottom).")
    else:
        st.caption("This run stores no logit effects.")

st.markdown("**Top contexts**: one per prompt, 16 tokens left and 4 right of the maximum"
            + (", every token coloured by the activation (hover for the value)."
               if acts is not None else "; the activating token highlighted."))
contexts = nd.neuron_contexts(root, run_id, layer, neuron)
vmax = max([c["activation"] for c in contexts], default=1.0)
for ctx in contexts:
    c_meta, c_text = st.columns([1, 5])
    c_meta.markdown(f"`{ctx['activation']:.3f}` · p{ctx['prompt']}:{ctx['pos']}")
    c_text.html(charts.context_html(ctx["tokens"], ctx["highlight"], ctx["activation"],
                                    ctx["values"], vmax))
