"""Attribution: which components write the next-token logit (DLA), and the logit lens per layer."""

import streamlit as st

from dashboard import attribution_charts as charts
from dashboard import attribution_data as ad
from dashboard import data, widgets
from dashboard.text import escape_markdown as esc

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
widgets.link("attribution_prompt", range(sizes["prompt"]), param="prompt")
prompt = int(c_prompt.number_input("Prompt", 0, sizes["prompt"] - 1, key="attribution_prompt"))
tokens = data.prompt_tokens(root, run_id, prompt)[: sizes["pos"]]
last = max(sizes["pos"] - 2, 0)  # the last position has no next token
widgets.link("attribution_pos", range(last + 1), param="pos", default=min(last, 10))
pos = int(c_pos.slider("Position", 0, last, key="attribution_pos"))
widgets.link("attribution_target", ["correct", "logit_diff"], param="target")
target = c_target.radio("Attribute", ["correct", "logit_diff"], key="attribution_target",
                        format_func={"correct": "correct token logit",
                                     "logit_diff": "correct - top rival"}.get)
context = "".join(tokens[max(0, pos - 12): pos + 1])
st.markdown(f"Context (…{len(tokens[:pos + 1])} tokens): {esc(repr(context))} → correct next "
            f"token {esc(repr(tokens[pos + 1]))}; the model's top other token is "
            f"{esc(repr(ad.rival_token(root, run_id, prompt, pos)))}.")

frame = ad.dla_frame(root, run_id, prompt, pos, target)
st.caption(f"Total (= the {'logit' if target == 'correct' else 'logit difference'}): "
           f"**{frame['value'].sum():.3f}**. Rows `L*_attn_bias` hold b_O (head outputs exclude "
           "it); `ln_final_bias` and `unembed_bias` are the final LayerNorm bias and b_U.")
c_bars, c_blocks = st.columns([3, 2])
with c_bars:
    n_min = min(5, len(frame))
    widgets.link("attribution_top_n", range(n_min, len(frame) + 1), param="top",
                 default=min(len(frame), 30))
    top_n = (st.slider("Largest components shown", n_min, len(frame), key="attribution_top_n")
             if len(frame) > n_min else len(frame))
    widgets.link("attribution_sorted", [True, False], param="sorted", default=False)
    by_size = st.toggle("Sort by size", key="attribution_sorted",
                        help="Largest |contribution| first; off: the model's order.")
    shown = frame.reindex(frame["value"].abs().sort_values(ascending=False).index).head(top_n)
    st.altair_chart(charts.dla_bars(shown if by_size else shown.sort_index(),
                                    title=f"by component ({len(shown)} of {len(frame)})"),
                    width="stretch")
with c_blocks:
    st.markdown("**Per block**: bars are each block's total; the black line is the running "
                "sum (the logit lens with the LayerNorm scale frozen, which is additive).")
    blocks = ad.block_frame(frame, data.n_layers(root, run_id))
    st.altair_chart(charts.block_bars(blocks), width="stretch")

st.subheader("Logit lens")
if widgets.require(root, run_id, widgets.Needs("attribution", "logit_lens/top_ids",
                                               "logit-lens arrays"), stop=False):
    mode = ad.ln_mode(root, run_id, "logit_lens/top_ids", "recompute")
    st.caption("Top tokens (with probabilities) read off the residual stream before each block "
               "and after the last one, with the final LayerNorm's statistics "
               f"{'recomputed at each layer' if mode == 'recompute' else esc(mode)} "
               f"(ln_mode = {esc(mode)}). Rank 0 means the correct token is on top.")
    st.dataframe(ad.lens_table(root, run_id, prompt, pos), hide_index=True)
