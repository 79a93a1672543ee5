"""Glass box: one forward and backward pass of the NumPy model on a short prompt, step by
step (docs/methods.md §14)."""

import streamlit as st

from dashboard import data
from dashboard import glassbox_charts as charts
from dashboard import glassbox_data as gd
from dashboard import widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Glass box",
    "The same model re-implemented in NumPy with every gradient derived by hand, run once "
    "forward and once backward on a short prompt: each layer's input and output shapes, the "
    "gradient flowing back through each layer (unembedding first), every head's attention "
    "pattern, and the gradient of the next-token loss with respect to every weight.",
    needs=widgets.Needs("glassbox", "glassbox/tokens", "glass-box pass"))

tokens = gd.prompt(root, run_id)
stats = gd.summary(root, run_id)
st.subheader("The prompt")
st.html(charts.prompt_html(tokens))
st.caption(f"{len(tokens)} tokens; next-token loss {stats['loss']:.3f} nats. The glass box's "
           f"logits differ from the torch model's by at most {stats['max_logit_diff']:.1e}.")

st.subheader("Forward pass, layer by layer")
st.dataframe(gd.layer_table(root, run_id), hide_index=True,
             column_config={"‖dL/d output‖": st.column_config.NumberColumn(format="%.3g"),
                            "‖dL/d input‖": st.column_config.NumberColumn(format="%.3g")})
st.caption("Shapes are [batch, pos, width]; the embeddings take token ids [batch, pos], so "
           "they pass no gradient on (empty ‖dL/d input‖). A residual connection adds a "
           "block's input to its output, so a block's input gradient is the sum of the "
           "gradient straight through and the branch's.")

st.subheader("Backward pass: the gradient at each layer's output")
st.altair_chart(charts.backward_chart(gd.backward_table(root, run_id)), width="stretch")

st.subheader("Attention pattern per head")
if gd.has_patterns(root, run_id):
    layers = list(range(data.array_sizes(root, run_id, "glassbox/pattern")["layer"]))
    c_layer, c_head = st.columns(2)
    widgets.keep_valid("glassbox_layer", layers)
    widgets.link("glassbox_layer", layers, param="layer")
    layer = c_layer.selectbox("Layer", layers, key="glassbox_layer")
    pattern = gd.pattern(root, run_id, layer)  # [head, query, key]
    heads = list(range(pattern.shape[0]))
    widgets.keep_valid("glassbox_head", heads)
    widgets.link("glassbox_head", heads, param="head")
    head = c_head.selectbox("Head", heads, key="glassbox_head")
    st.altair_chart(charts.pattern_chart(pattern[head], tokens), width="stretch")
    st.caption("Row: the position that attends; column: the position attended to. Each row "
               "sums to 1; positions after the query are masked out (blank).")
else:
    st.info(f"Run **{esc(run_id)}** has no attention layers (a 0-layer model), so there are no "
            "patterns to show.", icon=":material/info:")

st.subheader("Gradient of the loss with respect to every weight")
params = gd.param_table(root, run_id)
st.altair_chart(charts.grad_norm_chart(params), width="stretch")
st.dataframe(params, hide_index=True,
             column_config={c: st.column_config.NumberColumn(format="%.3g")
                            for c in ("‖w‖", "‖dL/dw‖", "‖dL/dw‖ / ‖w‖")})
st.caption("L2 norms on this one prompt. A key bias b_K always gets zero gradient: it adds "
           "the same score to every key of a query, which the softmax ignores (left out of "
           "the log-scale chart).")
