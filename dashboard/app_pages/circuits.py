"""Circuits: per-head OV copying, Q/K/V composition between heads, skip-trigrams, QK/OV rows."""

import streamlit as st

from dashboard import circuits_charts as charts
from dashboard import circuits_data as cd
from dashboard import data, widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Circuits",
    "Weights-only view of the attention heads (row convention). The **OV circuit** says "
    "which output tokens a head pushes up when it attends to a source token; its **copying "
    "score** (eigenvalues) is +1 for a head that copies, -1 for one that suppresses. The "
    "**QK circuit** says which key tokens a query token attends to. **Composition** measures "
    "how much a later head reads what an earlier head writes, minus the score of random "
    "matrices.",
    needs=widgets.Needs("circuits", "circuits/copying", "circuit analysis",
                        why="it needs attention layers"))

heads = cd.copying_table(root, run_id)
st.subheader("Copying per head")
for col, value in zip(st.columns(3), [v for v in ("copying", "ov_top1", "ov_top5") if v in heads]):
    # rows sized by alt.Step in the spec; a height here collapses 1-layer maps
    col.altair_chart(charts.copying_map(heads, value), width="stretch")
st.caption("copying = sum of eigenvalues / sum of their absolute values of the full OV circuit; "
           "ov_top1/ov_top5 = share of source tokens whose own token is the top-1 / top-5 output.")
gap = cd.copying_vs_top1(heads)
if gap:
    st.info(f"**Why head {esc(gap['name'])} can have copying {gap['copying']:.2f} but top-1 "
            f"accuracy {gap['ov_top1']:.2f}.** The copying score is an average over the whole OV "
            "circuit (its eigenvalues): it is positive when attending to a token raises that "
            "token's logit *more than it lowers it*, summed over all directions. Top-1 "
            "accuracy asks something stricter: is the source token the single most raised "
            "output? A head can raise every source token a little while raising a few other "
            "tokens (often frequent ones) even more; then it copies on average and is never "
            "top-1" + (f" (its top-5 accuracy is {gap['ov_top5']:.2f})" if gap["ov_top5"]
                       is not None else "") + ". Both are read from the weights alone.",
            icon=":material/help:")

if data.has_array(root, run_id, "circuits/comp"):
    st.subheader("Composition between heads")
    widgets.link("circuits_subtract", [True, False], param="subtract", default=True)
    subtract = st.toggle("Subtract the random baseline", key="circuits_subtract")
    modes = sorted(data.read(root, run_id, "circuits/comp_mode").comp_mode.values.tolist(),
                   key=lambda m: m != "K")  # K first: how induction heads read
    titles = [f"{esc(m)} (induction)" if m == "K" else esc(m) for m in modes]
    for tab, mode in zip(st.tabs(titles), modes):
        tab.altair_chart(charts.composition_heatmap(cd.composition(root, run_id, mode, subtract),
                                                    mode), width="content")
    baseline = cd.composition_baseline(root, run_id)
    st.caption(f"Score = ||W_OV(earlier) R(later)|| / (||W_OV|| ||R||) with R = W_QK (Q), "
               f"W_QK^T (K), W_OV (V); random baseline {baseline or 0:.3f} (about "
               "1/sqrt(d_model)). An induction head shows as K-composition with a "
               "previous-token head.")

if data.has_array(root, run_id, "circuits/trigram_src"):
    st.subheader("Skip-trigrams")
    table = cd.skip_trigram_table(root, run_id)
    c_head, c_copy = st.columns([1, 1])
    trigram_heads = ["all"] + sorted(table["head"].unique().tolist())
    widgets.link("circuits_trigram_head", trigram_heads, param="trigram_head")
    head_pick = c_head.selectbox("Head", trigram_heads, key="circuits_trigram_head")
    only_copy = c_copy.toggle("Copying only", key="circuits_trigram_copy")
    shown = table if head_pick == "all" else table[table["head"] == head_pick]
    shown = shown[shown["copying"]] if only_copy else shown
    st.dataframe(shown, hide_index=True, height=320)
    st.caption("[source] ... [destination] -> [predicted]: when the destination token attends "
               "to the source (QK), the head raises the predicted token (OV strength).")

st.subheader("One head, one token")
strs = data.token_strs(root, run_id)
c_head, c_query, c_k = st.columns([1, 2, 1])
widgets.link("circuits_head", heads["name"].tolist(), param="head")
name = c_head.selectbox("Head", heads["name"].tolist(), key="circuits_head")
layer, head = (int(x) for x in name.split("."))
widgets.link("circuits_query", param="token")
query = c_query.text_input("Token", key="circuits_query", placeholder="e.g. ' the' or #42")
widgets.link("circuits_k", range(3, 31), param="k", default=10)
k = c_k.slider("List length", 3, 30, key="circuits_k")
candidates = data.find_tokens(strs, query) if query else cd.circuit_tokens(root, run_id)
if not candidates:
    st.warning("No token matches.", icon=":material/search_off:")
    st.stop()
token = st.selectbox("Matches", candidates, key="circuits_token",
                     format_func=lambda i: f"{data.quoted(strs[i])}  #{i}")
if not data.has_array(root, run_id, "weights/W_V"):
    st.info("This run has no stored weights, so per-token circuits cannot be computed.",
            icon=":material/info:")
    st.stop()
ov, qk = cd.head_circuit(root, run_id, layer, head, int(token), k)
left, right = st.columns(2)
left.altair_chart(charts.value_bars(ov, "OV logit", "OV: outputs when attended to"),
                  width="stretch")
right.altair_chart(charts.value_bars(qk, "QK score", "QK: keys it attends to"), width="stretch")
st.caption("OV: full OV row of the token (logit change per unit attention). QK: full QK row "
           "(attention logit before the 1/sqrt(d_head) scale). Token vectors are LNPre(W_E); "
           "positions and biases are left out.")
