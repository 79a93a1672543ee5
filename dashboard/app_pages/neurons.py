"""Neurons and residual stream: residual norms, dead/saturated neurons, a neuron's top contexts."""

import streamlit as st

from dashboard import data, widgets
from dashboard import neurons_charts as charts
from dashboard import neurons_data as nd

root, run_id = widgets.open_page(
    "Neurons and residual stream",
    "The residual stream's mean norm at each layer and position, then the MLP neurons: how "
    "many never fire (dead: pre-activation never above 0) or sit in the flat negative regime "
    "(saturated: pre < −3 on almost every token), the distribution of activations, and the "
    "prompts on which a chosen neuron fires most (the activating token highlighted).",
    needs=widgets.Needs("neurons", "neurons/resid_norm", "residual-stream statistics"))

norms, labels = nd.resid_norms(root, run_id)
st.subheader("Residual stream norm")
st.altair_chart(charts.resid_norm_chart(norms, labels), width="stretch")

if not data.has_array(root, run_id, "neurons/fire_rate"):
    st.info(f"Run **{run_id}** has no MLP neurons (attention-only or 0-layer model).",
            icon=":material/info:")
    st.stop()

st.subheader("Dead and saturated neurons")
rules = nd.definitions(root, run_id)
st.caption(f"Fires: {rules['firing']}; dead: never fires; saturated: {rules['saturation']}.")
st.dataframe(nd.neuron_counts(root, run_id), hide_index=True)
sizes = data.array_sizes(root, run_id, "neurons/top_prompt")
c_layer, c_neuron = st.columns(2)
widgets.keep_valid("neurons_layer", list(range(sizes["layer"])))
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="neurons_layer")
counts = data.read_array(root, run_id, "neurons/hist_counts", layer=layer)
edges = data.read_array(root, run_id, "neurons/hist_edges", layer=layer)
st.altair_chart(charts.histogram_chart(counts, edges,
                                       x_title="post-activation (all neurons, all tokens)"),
                width="stretch")

widgets.keep_valid("neurons_neuron", list(range(sizes["d_mlp"])))
neuron = int(c_neuron.number_input("Neuron", 0, sizes["d_mlp"] - 1, 0, key="neurons_neuron"))
st.subheader(f"Neuron L{layer}N{neuron}: top contexts")
pushes = nd.neuron_logit_tokens(root, run_id, layer, neuron)
st.caption(f"Fires (pre > 0) on {nd.fire_rate(root, run_id, layer, neuron):.1%} of tokens. One "
           "context per prompt, 16 tokens left and 4 right of the maximum."
           + (f" Its output pushes up (direct path, approximate): "
              f"{', '.join(repr(t) for t in pushes[:8])}." if pushes else ""))
for ctx in nd.neuron_contexts(root, run_id, layer, neuron):
    c_meta, c_text = st.columns([1, 5])
    c_meta.markdown(f"`{ctx['activation']:.3f}` · p{ctx['prompt']}:{ctx['pos']}")
    c_text.html(charts.context_html(ctx["tokens"], ctx["highlight"], ctx["activation"]))
