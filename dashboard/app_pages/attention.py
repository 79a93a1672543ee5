"""Attention: one head's pattern on one prompt, as a heatmap and as hover-over text."""

import numpy as np
import streamlit as st

from dashboard import attention_charts as charts
from dashboard import attention_data as ad
from dashboard import data, widgets

root, run_id = widgets.open_page(
    "Attention",
    "Where each token looks. Row *q* of the heatmap is the attention distribution of the "
    "token at position *q* over the positions it can see (keys 0..q); every row sums to 1. "
    "Hover the text to see the same row as colours on the prompt.")

if data.n_layers(root, run_id) == 0:
    widgets.missing_data(
        f"Run **{run_id}** has no attention layers (a 0-layer model maps each token straight "
        "to logits: see the Bigrams page). Pick a run with attention in the sidebar.",
        alternatives=[r for r in data.list_runs(root) if ad.prompt_sets(root, r)])
widgets.require(root, run_id, widgets.Needs("patterns", "attn/pattern",
                                            "stored attention patterns"))
sets = ad.prompt_sets(root, run_id)
if not sets:
    widgets.missing_data(f"Run **{run_id}** stores attention patterns but not the token ids "
                         "of its prompts (`tokens`): re-run its analysis.")

c_set, c_layer, c_head, c_prompt, c_measure = st.columns([1.3, 0.6, 1.4, 2.2, 1.3])
labels = [s.label for s in sets]
widgets.keep_valid("attention_prompt_set", labels)
set_label = c_set.radio("Prompt set", labels, key="attention_prompt_set",
                        disabled=len(sets) == 1,
                        help="Repeated random tokens (BOS, r1..rn, r1..rn) show induction "
                             "heads as a stripe n-1 positions below the diagonal."
                             + ("" if len(sets) > 1 else " This run has no repeated-token set."))
pset = sets[labels.index(set_label)]
sizes = data.array_sizes(root, run_id, pset.pattern)
n_prompts = sizes[pset.prompt_dim]

widgets.keep_valid("attention_layer", list(range(sizes["layer"])))
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="attention_layer")
head_title = ad.head_titles(root, run_id, layer, sizes["head"])
widgets.keep_valid("attention_head", list(range(sizes["head"])))
head = c_head.selectbox("Head", range(sizes["head"]), key="attention_head",
                        format_func=head_title.__getitem__)

previews = ad.prompt_previews(root, run_id, pset, n_prompts)
prompt_key = "attention_prompt" if pset == ad.NATURAL else "attention_rrt_prompt"
widgets.keep_valid(prompt_key, list(range(n_prompts)))
prompt = c_prompt.selectbox("Prompt", range(n_prompts), key=prompt_key,
                            format_func=lambda p: f"{p}: {previews[p]}")

has_norm = data.has_array(root, run_id, pset.norm_pattern)
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
n = pattern.shape[0]
repeat_n = ad.repeat_length(root, run_id, n) if pset == ad.REPEATED else None
if data.has_array(root, run_id, pset.tokens):
    tokens = data.prompt_tokens(root, run_id, prompt, pset.tokens, pset.prompt_dim)[:n]
else:  # the run stores these patterns without their token ids: label by place in the repeat
    tokens = ad.rrt_placeholder_tokens(n, repeat_n)
start, stop = 0, n
if n > 96:  # long contexts: show a window so labels stay readable
    start, stop = st.slider("Positions", 0, n, (max(0, n - 64), n), key="attention_window")
window = pattern[start:stop, start:stop]

st.subheader(f"Layer {layer}, head {head_title[head]}")
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
