"""Neurons and residual stream: residual norms, dead/saturated neurons, a neuron's top contexts."""

import streamlit as st

from dashboard import charts_attribution as charts_a
from dashboard import data, data_attribution as da, widgets

root, run_id = widgets.selected_run()
st.title("Neurons and residual stream")
st.caption("The residual stream's mean norm at each layer and position, then the MLP neurons: "
           "how many never fire (dead: pre-activation never above 0) or sit in the flat "
           "negative regime (saturated: pre < −3 on almost every token), the distribution of "
           "activations, and the prompts on which a chosen neuron fires most (the activating "
           "token highlighted).")
st.markdown(widgets.run_caption(root, run_id))

if not da.has_resid_norms(root, run_id):
    others = [r for r in data.list_runs(root) if da.has_resid_norms(root, r)]
    widgets.missing_data(f"Run **{run_id}** has no residual-stream statistics: run the analysis "
                         "job on it.", alternatives=others)

norms = da.resid_norms(root, run_id)
labels = [f"{l}_pre" for l in range(norms.shape[0] - 1)] + ["final_post"]
st.subheader("Residual stream norm")
st.altair_chart(charts_a.resid_norm_chart(norms, labels), width="stretch")

if not da.has_neuron_stats(root, run_id):
    st.info(f"Run **{run_id}** has no MLP neurons (attention-only or 0-layer model).",
            icon=":material/info:")
    st.stop()

st.subheader("Dead and saturated neurons")
st.dataframe(da.neuron_counts(root, run_id), hide_index=True)
sizes = data.open_run(root, run_id).sizes("neurons/top_prompt")
c_layer, c_neuron = st.columns(2)
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="neurons_layer")
counts = data.read_array(root, run_id, "neurons/hist_counts", layer=layer)
edges = data.read_array(root, run_id, "neurons/hist_edges", layer=layer)
st.altair_chart(charts_a.histogram_chart(counts, edges, x_title="post-activation (all neurons, all tokens)"),
                width="stretch")

neuron = c_neuron.number_input("Neuron", 0, sizes["d_mlp"] - 1, 0, key="neurons_neuron")
fire = data.read_array(root, run_id, "neurons/fire_rate", layer=layer, d_mlp=int(neuron))
st.subheader(f"Neuron L{layer}N{neuron}: top contexts")
pushes = da.neuron_logit_tokens(root, run_id, layer, int(neuron))
st.caption(f"Fires (pre > 0) on {float(fire):.1%} of tokens. One context per prompt, 16 tokens "
           "left and 4 right of the maximum." + (f" Its output pushes up (direct path, "
           f"approximate): {', '.join(repr(t) for t in pushes[:8])}." if pushes else ""))
for ctx in da.neuron_contexts(root, run_id, layer, int(neuron)):
    c_meta, c_text = st.columns([1, 5])
    c_meta.markdown(f"`{ctx['activation']:.3f}` · p{ctx['prompt']}:{ctx['pos']}")
    c_text.html(charts_a.context_html(ctx["tokens"], ctx["highlight"], ctx["activation"]))
