"""IOI: the logit difference, per-head IOI scores, the head classes with their evidence and
the circuit drawn from the stored path-patching effects (docs/methods.md §12.2, §12.3)."""

import streamlit as st

from dashboard import data, widgets
from dashboard import ioi_charts as charts
from dashboard import ioi_data as iod
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "IOI: indirect object identification",
    "Prompts like “When Mary and John went to the store, John gave a drink to”: the model "
    "should name the indirect object (Mary), not the subject (John). The logit difference "
    "IO − S at the last token, every head's IOI scores, the classes the scores put heads "
    "in (with the thresholds they crossed), and the circuit: heads as points by layer, "
    "path-patching effects as lines from sender to receiver.",
    needs=widgets.Needs("ioi", "ioi/scores", "IOI results",
                        "it needs a tokenizer with single-token names (gpt2)"))

info = iod.summary(root, run_id)
c_ld, c_hist = st.columns([1, 3])
c_ld.metric("Mean logit difference", f"{info['ld_clean']:+.2f}",
            help="logit(IO) − logit(S) at END, mean over the IOI prompts")
c_ld.caption(f"{len(info['per_prompt'])} prompts; positive means the model prefers IO.")
c_hist.altair_chart(charts.ld_histogram(info["per_prompt"]), width="stretch")

st.subheader("Per-head scores")
scores = iod.head_scores(root, run_id)
names = list(scores)
widgets.link("ioi_score", names, param="score")
name = st.selectbox("Score", names, key="ioi_score")
if (scores[name] != scores[name]).all():
    st.info(f"**{esc(name)}** was not computed for this run (its path-patching stage had no "
            "receivers, or the step ran without path patching).", icon=":material/info:")
else:
    st.altair_chart(charts.head_map(scores[name], name, unit=name in iod.FRACTION_SCORES),
                    width="stretch")

st.subheader("Head classes")
table = iod.class_table(root, run_id)
if table.empty:
    st.info("No head meets the rules of any IOI class on this run.", icon=":material/info:")
else:
    st.dataframe(table, hide_index=True)
rules = ", ".join(f"{esc(k)} {esc(v)}" for k, v in info["thresholds"].items())
st.caption(f"Thresholds: {rules} (docs/methods.md §12.3). Every condition of a class must hold.")

st.subheader("Circuit")
nodes, edges = iod.circuit(root, run_id)
if nodes.empty:
    st.info("No labelled heads, so there is no circuit to draw.", icon=":material/info:")
else:
    sizes = data.array_sizes(root, run_id, "ioi/label")
    st.altair_chart(charts.circuit_chart(nodes, edges, sizes["layer"], sizes["head"]),
                    width="stretch")
    st.caption(f"{len(edges)} path-patching edges (sender → name-mover queries, sender → "
               "S-inhibition values) whose relative LD change crosses the threshold.")
