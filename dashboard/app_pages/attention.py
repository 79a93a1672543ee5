"""Attention: one head's pattern on one prompt, as a heatmap and as hover-over text."""

import numpy as np
import streamlit as st

from dashboard import attention_charts as charts
from dashboard import attention_data as ad
from dashboard import data, widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Attention",
    "Where each token looks. Row *q* of the heatmap is the attention distribution of the "
    "token at position *q* over the positions it can see (keys 0..q); every row sums to 1. "
    "Hover the text to see the same row as colours on the prompt; the grid at the bottom "
    "shows every head of the layer on the same prompt.", findings=("patterns", "prompts"))

if data.n_layers(root, run_id) == 0:
    widgets.missing_data(
        f"Run **{esc(run_id)}** has no attention layers (a 0-layer model maps each token straight "
        "to logits: see the Bigrams page). Pick a run with attention in the sidebar.",
        alternatives=[r for r in data.list_runs(root) if ad.prompt_sets(root, r)])
widgets.require(root, run_id, widgets.Needs("patterns", "attn/pattern",
                                            "stored attention patterns"))
sets = ad.prompt_sets(root, run_id)
if not sets:
    widgets.missing_data(f"Run **{esc(run_id)}** stores attention patterns but not the token ids "
                         "of its prompts (`tokens`): re-run its analysis.")

c_set, c_layer, c_head, c_prompt, c_measure = st.columns([1.3, 0.6, 1.4, 2.2, 1.3])
labels = [s.label for s in sets]
widgets.link("attention_prompt_set", labels, param="set")
set_label = c_set.radio("Prompt set", labels, key="attention_prompt_set",
                        disabled=len(sets) == 1,
                        help="Repeated random tokens (BOS, r1..rn, r1..rn) show induction "
                             "heads as a stripe n-1 positions below the diagonal."
                             + ("" if len(sets) > 1 else " This run has no repeated-token set."))
pset = sets[labels.index(set_label)]
sizes = data.array_sizes(root, run_id, pset.pattern)
n_prompts = sizes[pset.prompt_dim]

widgets.link("attention_layer", range(sizes["layer"]), param="layer")
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="attention_layer")
head_title = ad.head_titles(root, run_id, layer, sizes["head"])
widgets.link("attention_head", range(sizes["head"]), param="head")
head = c_head.selectbox("Head", range(sizes["head"]), key="attention_head",
                        format_func=head_title.__getitem__)

previews = ad.prompt_previews(root, run_id, pset, n_prompts)
prompt_key = {ad.NATURAL: "attention_prompt", ad.REPEATED: "attention_rrt_prompt",
              ad.USER: "attention_user_prompt"}[pset]
widgets.link(prompt_key, range(n_prompts), param="prompt")
prompt = c_prompt.selectbox("Prompt", range(n_prompts), key=prompt_key,
                            format_func=lambda p: f"{p}: {previews[p]}")
n_user = data.array_sizes(root, run_id, ad.USER.tokens)["user_prompt"] if ad.USER in sets else 0
with st.expander(f"Your own prompts ({n_user} in this run)" if n_user
                 else "Your own prompts: add them to this run"):
    st.markdown("Write your prompts in a file, one per line (or a JSON list of strings), and "
                "add them to this run; they then appear here as the prompt set **Your "
                "prompts**, next to the evaluation prompts:")
    st.code(ad.prompts_command(root, run_id), language="bash")

has_norm = data.has_array(root, run_id, pset.norm_pattern)
widgets.link("attention_measure", ["weight", "norm"] if has_norm else ["weight"],
             param="measure")
measure = c_measure.radio(
    "Measure", ["weight", "norm"], key="attention_measure", disabled=not has_norm,
    format_func={"weight": "attention weight", "norm": "norm-based"}.get,
    help="Norm-based attention ||a_ij f(x_j)|| (Kobayashi et al. 2020) also counts how big "
         "the vector moved from each key is; shown normalised per query row.")
if not has_norm:
    c_measure.caption("No norm-based patterns in this run.")
use_norm = has_norm and measure == "norm"
value_title = "norm-based attention" if use_norm else "attention"

pattern = ad.attention_pattern(root, run_id, layer=layer, head=head, prompt=prompt,
                               prompt_set=pset, norm=use_norm)
n = ad.prompt_length(root, run_id, pset, prompt, pattern.shape[0])
pattern = pattern[:n, :n]  # user prompts are padded
repeat_n = ad.repeat_length(root, run_id, n) if pset == ad.REPEATED else None
if data.has_array(root, run_id, pset.tokens):
    tokens = ad.prompt_token_strs(root, run_id, pset, prompt, n)
else:  # the run stores these patterns without their token ids: label by place in the repeat
    tokens = ad.rrt_placeholder_tokens(n, repeat_n)
start, stop = 0, n
if n > 96:  # long contexts: show a window so labels stay readable
    start, stop = st.slider("Positions", 0, n, (max(0, n - 64), n), key="attention_window")
window = pattern[start:stop, start:stop]

st.subheader(f"Layer {layer}, head {esc(head_title[head])}")
if repeat_n:
    st.caption(f"BOS, then {repeat_n} random tokens, then the same {repeat_n} again. An "
               "induction head looks from each token of the second copy at the token *after* "
               f"its earlier occurrence: a stripe {repeat_n - 1} positions below the diagonal.")

shares = ad.attention_shares(pattern, repeat_n)
for col, (label, value) in zip(st.columns(len(shares) + 1), shares.items()):
    col.metric(label, "–" if np.isnan(value) else f"{value:.0%}",
               help="Mean attention from each query position to this key, on this prompt.")

st.iframe(charts.attention_text_html(tokens[start:stop], window, start=start,
                                     value_title=value_title), height="content")
st.altair_chart(charts.attention_heatmap(window, tokens[start:stop], start=start,
                                         value_title=value_title), width="content")
st.caption("Shares are for this prompt only; the Heads page scores every head over all prompts.")

st.subheader(f"All heads of layer {layer} on this prompt")
st.caption("One small heatmap per head (same axes and colours as above; hover a cell for the "
           "query and key tokens). Stripes and columns tell the head types apart at a glance.")
grid = ad.layer_patterns(root, run_id, layer=layer, prompt=prompt, prompt_set=pset,
                         norm=use_norm)[:, :n, :n]
st.altair_chart(charts.all_heads_grid(grid[:, start:stop, start:stop], tokens[start:stop],
                                      head_title, start=start, value_title=value_title),
                width="content")
