"""Attention: one head's pattern on one prompt, as a heatmap and as hover-over text."""

import numpy as np
import streamlit as st

from dashboard import charts, data, widgets

root, run_id = widgets.selected_run()
st.title("Attention")
st.caption("Where each token looks. Row *q* of the heatmap is the attention distribution of "
           "the token at position *q* over the positions it can see (keys 0..q); every row "
           "sums to 1. Hover the text to see the same row as colours on the prompt.")
st.markdown(widgets.run_caption(root, run_id))


def _keep(key: str, options: list) -> None:
    """Reset a page widget whose stored value is not valid for this run."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


sets = data.prompt_sets(root, run_id)
if data.n_layers(root, run_id) == 0 or not sets:
    others = [r for r in data.list_runs(root) if data.prompt_sets(root, r)]
    reason = ("has no attention layers (a 0-layer model maps each token straight to "
              "logits: see the Bigrams page)" if data.n_layers(root, run_id) == 0
              else "has no stored attention patterns (re-run its analysis job)")
    widgets.missing_data(f"Run **{run_id}** {reason}. Pick a run with attention in the "
                         "sidebar.", alternatives=others)

sizes = data.open_run(root, run_id).sizes(sets[0].pattern)
c_set, c_layer, c_head, c_prompt, c_measure = st.columns([1.4, 0.7, 1.1, 2.2, 1.4])
labels = [s.label for s in sets]
_keep("attention_prompt_set", labels)
set_label = c_set.radio("Prompt set", labels, key="attention_prompt_set",
                        disabled=len(sets) == 1,
                        help="Repeated random tokens (BOS, r1..rn, r1..rn) show induction "
                             "heads as a stripe n-1 positions below the diagonal."
                             + ("" if len(sets) > 1 else " This run has no repeated-token set."))
pset = sets[labels.index(set_label)]
sizes = data.open_run(root, run_id).sizes(pset.pattern)

_keep("attention_layer", list(range(sizes["layer"])))
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="attention_layer")
head_names = [data.head_label(root, run_id, layer, h) for h in range(sizes["head"])]
_keep("attention_head", list(range(sizes["head"])))
head = c_head.selectbox("Head", range(sizes["head"]), key="attention_head",
                        format_func=lambda h: f"{h} · {head_names[h]}" if head_names[h] else str(h))

all_tokens = data.read_array(root, run_id, pset.tokens)
vocab = data.token_strs(root, run_id)
previews = ["".join(vocab[t] for t in row[1:9]).replace("\n", " ")[:40] for row in all_tokens]
_keep("attention_prompt", list(range(sizes["prompt"])))
prompt = c_prompt.selectbox("Prompt", range(sizes["prompt"]), key="attention_prompt",
                            format_func=lambda p: f"{p}: {previews[p]}…")

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

pattern = data.attention_pattern(root, run_id, layer=layer, head=head, prompt=prompt,
                                 prompt_set=pset, norm=use_norm)
tokens = data.prompt_tokens(root, run_id, prompt, pset.tokens)[: pattern.shape[0]]
n = len(tokens)
start, stop = 0, n
if n > 96:  # long contexts: show a window so labels stay readable
    start, stop = st.slider("Positions", 0, n, (max(0, n - 64), n), key="attention_window")
window = pattern[start:stop, start:stop]

st.subheader(f"Layer {layer}, head {head}" + (f" · {head_names[head]}" if head_names[head] else ""))
st.iframe(charts.attention_text_html(tokens[start:stop], window, start=start,
                                     value_title=value_title), height="content")

left, right = st.columns([4, 1])
left.altair_chart(charts.attention_heatmap(window, tokens[start:stop], start=start,
                                           value_title=value_title), width="content")
q = np.arange(n)
right.markdown("**Where this head looks** (mean over query positions)")
right.metric("first token (BOS)", f"{pattern[1:, 0].mean():.0%}" if n > 1 else "–")
right.metric("previous token", f"{pattern[q[1:], q[1:] - 1].mean():.0%}" if n > 1 else "–")
right.metric("itself", f"{np.diag(pattern).mean():.0%}")
right.caption("Values from this prompt only; the Heads page scores heads over all prompts.")
