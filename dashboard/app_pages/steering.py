"""Steering: pick a vector, layer and coefficient; read the steered and unsteered continuations
side by side with the injection positions marked; the sweep curves over coefficients."""

import streamlit as st

from dashboard import steering_charts as charts
from dashboard import steering_data as sd
from dashboard import widgets
from dashboard.text import escape_markdown

root, run_id = widgets.open_page(
    "Steering vectors",
    "A steering vector is added to the residual stream entering one layer while the model "
    "reads a prompt and continues it. ActAdd vectors are the position-wise difference of a "
    "contrast pair's activations (added at the prompt's first positions); mean-difference "
    "(CAA) vectors average the difference over several contexts (added from the prompt's last "
    "position on). Compare the continuations with and without it, and see how the pair's own "
    "target token's logit and the side effects on unrelated text (KL, perplexity) grow with "
    "the coefficient at each layer.",
    needs=widgets.Needs("steering", "steering/vector", "steering vectors",
                        why="it needs at least one layer and a tokenizer"))

axes = sd.sweep_axes(root, run_id)
c_vec, c_layer, c_coeff = st.columns([2, 1, 2])
widgets.link("steering_vector", axes.vectors, param="vector")
vector_name = c_vec.selectbox("Vector", axes.vectors, key="steering_vector")
widgets.link("steering_layer", axes.layers, param="layer")
layer = c_layer.selectbox("Layer", axes.layers, key="steering_layer")
default_coeff = max(axes.coeffs)
widgets.link("steering_coeff", axes.coeffs, param="coeff", default=default_coeff)
coeff = c_coeff.select_slider("Coefficient", axes.coeffs, key="steering_coeff")
c_prompt, c_mode = st.columns([3, 1])
widgets.link("steering_prompt", list(range(len(axes.prompts))), param="prompt")
prompt = c_prompt.selectbox("Prompt", range(len(axes.prompts)), key="steering_prompt",
                            format_func=lambda i: repr(axes.prompts[i]))
widgets.link("steering_mode", axes.modes, param="mode")
mode = c_mode.radio("Continuation", axes.modes, key="steering_mode", horizontal=True,
                    format_func=escape_markdown)

v = axes.vectors.index(vector_name)
pos_target, neg_target = sd.targets(root, run_id, v)
shown = sd.continuation(root, run_id, v, axes.layers.index(layer), axes.coeffs.index(coeff),
                        prompt, axes.modes.index(mode))  # fmt: skip
st.subheader("Continuations")
st.caption(f"Pairs: {escape_markdown(axes.source)}. Prompt in grey, continuation in bold; positions where the "
           "vector was added are shaded orange (hover a token for its position). "
           + ("Greedy: the most likely token each step." if mode == "greedy" else
              "Sampled at temperature 1 with the step's seed."))
c_base, c_steer = st.columns(2)
with c_base:
    st.markdown("**Without steering**")
    st.html(charts.continuation_html(shown.unsteered, shown.prompt_len))
with c_steer:
    st.markdown(f"**With {escape_markdown(vector_name)} × {coeff:g} at layer {layer}**")
    st.html(charts.continuation_html(shown.steered, shown.prompt_len, shown.injected))

table = sd.sweep_table(root, run_id, v)
st.subheader("Sweep over coefficients")
st.caption(f"Targets of the pair: positive {escape_markdown(repr(pos_target))}, negative "
           f"{escape_markdown(repr(neg_target))} (their logit "
           "shift is steered minus unsteered logit after the prompt, mean over prompts). KL: mean "
           "KL(unsteered ‖ steered) of the next-token distribution on held-out evaluation text, "
           "in nats.")
c_shift, c_kl = st.columns(2)
c_shift.altair_chart(charts.sweep_chart(table, "positive logit shift",
                                        "logit shift of the positive target",
                                        selected_coeff=coeff), width="stretch")
c_kl.altair_chart(charts.sweep_chart(table, "held-out KL", "held-out KL (nats)", selected_coeff=coeff),
                  width="stretch")
base_ppl = sd.base_perplexity(root, run_id)
st.caption("Every layer x coefficient of this vector"
           + (f"; held-out perplexity without steering: {base_ppl:.2f}." if base_ppl else "."))
st.dataframe(table.round(4), hide_index=True, height=min(360, 38 + 35 * len(table)))
