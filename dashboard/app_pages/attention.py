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

c_set, c_layer, c_head, c_prompt, c_measure = st.columns([1.3, 0.6, 1.4, 2.2, 1.3])
labels = [s.label for s in sets]
_keep("attention_prompt_set", labels)
set_label = c_set.radio("Prompt set", labels, key="attention_prompt_set",
                        disabled=len(sets) == 1,
                        help="Repeated random tokens (BOS, r1..rn, r1..rn) show induction "
                             "heads as a stripe n-1 positions below the diagonal."
                             + ("" if len(sets) > 1 else " This run has no repeated-token set."))
pset = sets[labels.index(set_label)]
sizes = data.array_sizes(root, run_id, pset.pattern)
n_prompts = sizes[pset.prompt_dim]

_keep("attention_layer", list(range(sizes["layer"])))
layer = c_layer.selectbox("Layer", range(sizes["layer"]), key="attention_layer")
head_names = [data.head_label(root, run_id, layer, h) for h in range(sizes["head"])]
head_title = [f"{h} · {name}" if name else str(h) for h, name in enumerate(head_names)]
_keep("attention_head", list(range(sizes["head"])))
head = c_head.selectbox("Head", range(sizes["head"]), key="attention_head",
                        format_func=head_title.__getitem__)

has_tokens = data.has_array(root, run_id, pset.tokens)
if has_tokens:
    vocab = data.token_strs(root, run_id)
    previews = ["".join(vocab[t] for t in row[1:9]).replace("\n", " ")[:40] + "…"
                for row in data.read_array(root, run_id, pset.tokens)]
else:
    previews = ["random tokens"] * n_prompts
prompt_key = "attention_prompt" if pset == data.NATURAL else "attention_rrt_prompt"
_keep(prompt_key, list(range(n_prompts)))
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

pattern = data.attention_pattern(root, run_id, layer=layer, head=head, prompt=prompt,
                                 prompt_set=pset, norm=use_norm)
if has_tokens:
    tokens = data.prompt_tokens(root, run_id, prompt, pset.tokens, pset.prompt_dim)
    tokens = tokens[: pattern.shape[0]]
else:  # the run stores these patterns without their token ids: label by place in the repeat
    tokens = data.rrt_placeholder_tokens(pattern.shape[0])
n = len(tokens)
start, stop = 0, n
if n > 96:  # long contexts: show a window so labels stay readable
    start, stop = st.slider("Positions", 0, n, (max(0, n - 64), n), key="attention_window")
window = pattern[start:stop, start:stop]

st.subheader(f"Layer {layer}, head {head_title[head]}")
half = (n - 1) // 2
if pset == data.REPEATED:
    st.caption(f"BOS, then {half} random tokens, then the same {half} again. An induction head "
               "looks from each token of the second copy at the token *after* its earlier "
               f"occurrence: a stripe {half - 1} positions below the diagonal.")

# Where this head looks on this prompt: mean attention over query positions.
q = np.arange(1, n)
shares = {"→ first token (BOS)": pattern[1:, 0].mean() if n > 1 else np.nan,
          "→ previous token": pattern[q, q - 1].mean() if n > 1 else np.nan,
          "→ itself": np.diag(pattern).mean()}
if pset == data.REPEATED and half > 1:
    second = np.arange(half + 1, 2 * half + 1)  # queries in the second copy
    shares["→ induction stripe"] = pattern[second, second - half + 1].mean()
for col, (label, value) in zip(st.columns(len(shares) + 1), shares.items()):
    col.metric(label, "–" if np.isnan(value) else f"{value:.0%}",
               help="Mean attention from each query position to this key, on this prompt.")

st.iframe(charts.attention_text_html(tokens[start:stop], window, start=start,
                                     value_title=value_title), height="content")
st.altair_chart(charts.attention_heatmap(window, tokens[start:stop], start=start,
                                         value_title=value_title), width="content")
st.caption("Shares are for this prompt only; the Heads page scores every head over all prompts.")
