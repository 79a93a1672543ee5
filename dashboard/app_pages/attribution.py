"""Attribution: which components write the next-token logit (DLA), and the logit lens per layer."""

import streamlit as st

from dashboard import attribution_charts as charts
from dashboard import attribution_data as ad
from dashboard import data, widgets

root, run_id = widgets.open_page(
    "Attribution",
    "Direct logit attribution splits the final residual stream into the parts written by the "
    "embeddings, every head, every MLP and the biases, and reads each part through the final "
    "LayerNorm (its scale frozen from the real run) and the unembedding. The bars sum exactly "
    "to the logit. Positive bars push the correct next token up. The logit lens shows what "
    "the model would predict if it stopped at each layer.",
    needs=widgets.Needs("attribution", "dla/correct", "logit attribution"))

sizes = data.array_sizes(root, run_id, "dla/correct")
c_prompt, c_pos, c_target = st.columns([1, 3, 2])
prompt = int(c_prompt.number_input("Prompt", 0, sizes["prompt"] - 1, 0, key="attribution_prompt"))
tokens = data.prompt_tokens(root, run_id, prompt)[: sizes["pos"]]
last = sizes["pos"] - 2  # the last position has no next token
if st.session_state.get("attribution_pos", 0) > last:
    del st.session_state["attribution_pos"]
pos = int(c_pos.slider("Position", 0, max(last, 0), min(last, 10), key="attribution_pos"))
target = c_target.radio("Attribute", ["correct", "logit_diff"], key="attribution_target",
                        format_func={"correct": "correct token logit",
                                     "logit_diff": "correct - top rival"}.get)
context = "".join(tokens[max(0, pos - 12): pos + 1])
st.markdown(f"Context (…{len(tokens[:pos + 1])} tokens): `{context!r}` → correct next "
            f"token `{tokens[pos + 1]!r}`; the model's top other token is "
            f"`{ad.rival_token(root, run_id, prompt, pos)!r}`.")

frame = ad.dla_frame(root, run_id, prompt, pos, target)
st.caption(f"Total (= the {'logit' if target == 'correct' else 'logit difference'}): "
           f"**{frame['value'].sum():.3f}**. Rows `L*_attn_bias` hold b_O (head outputs exclude "
           "it); `ln_final_bias` and `unembed_bias` are the final LayerNorm bias and b_U.")
c_bars, c_blocks = st.columns([3, 2])
with c_bars:
    top_n = st.slider("Largest components shown", 5, len(frame), min(len(frame), 30),
                      key="attribution_top_n")
    shown = frame.reindex(frame["value"].abs().sort_values(ascending=False).index).head(top_n)
    st.altair_chart(charts.dla_bars(shown.sort_index(), title="by component"), width="stretch")
with c_blocks:
    st.markdown("**Per block**: bars are each block's total; the line is the running sum "
                "(the logit lens with the LayerNorm scale frozen, which is additive).")
    blocks = ad.block_frame(frame, data.n_layers(root, run_id))
    st.altair_chart(charts.block_bars(blocks), width="stretch")

st.subheader("Logit lens")
if widgets.require(root, run_id, widgets.Needs("attribution", "logit_lens/top_ids",
                                               "logit-lens arrays"), stop=False):
    mode = ad.ln_mode(root, run_id, "logit_lens/top_ids", "recompute")
    st.caption("Top tokens (with probabilities) read off the residual stream before each block "
               "and after the last one, with the final LayerNorm's statistics "
               f"{'recomputed at each layer' if mode == 'recompute' else mode} "
               f"(ln_mode = {mode}). Rank 0 means the correct token is on top.")
    st.dataframe(ad.lens_table(root, run_id, prompt, pos), hide_index=True)
