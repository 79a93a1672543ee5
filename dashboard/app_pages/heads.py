"""Heads: the head taxonomy across runs, and layer x head maps of every score."""

import pandas as pd
import streamlit as st

from dashboard import data, widgets
from dashboard import heads_charts as charts
from dashboard import heads_data as hd
from dashboard.text import escape_cells
from dashboard.text import escape_markdown as esc

NEEDS = widgets.Needs("heads", hd.HEADS, "head scores", why="it needs attention layers")
root, run_id = widgets.open_page(
    "Heads",
    "What each attention head does, measured from its attention patterns. Every score is the "
    "mean attention a head puts on one kind of target (1 = all of it): the previous token, "
    "BOS, the earlier copy of the current token (duplicate), the token after that copy "
    "(induction). Click a column header to sort; the label is the first score over its "
    "threshold (rules below).", show_run=False, findings="heads")

with_heads = widgets.runs_with(root, NEEDS)
if not with_heads:
    widgets.missing_data("No run in this store has head scores yet: run the analysis job "
                         "(`python -m jobs analyze ...`) on a model with attention layers.")

c_runs, c_labels = st.columns([2, 2])
default = [run_id if run_id in with_heads else data.deepest_run(root, with_heads)]
widgets.link("heads_runs", with_heads, param="runs", default=default, multi=True)
chosen = c_runs.multiselect("Runs", with_heads, key="heads_runs",
                            help="Stack the tables of several runs to compare them.")
table = hd.heads_across_runs(root, tuple(chosen or default))
labels = sorted(table["label"].unique())
widgets.link("heads_labels", labels, param="label", default=labels, multi=True)
picked = c_labels.multiselect("Labels", labels, key="heads_labels")
shown = table[table["label"].isin(picked)]
st.dataframe(shown, hide_index=True, height=min(420, 38 + 35 * len(shown)),
             column_config={"run": st.column_config.TextColumn("run", pinned=True),
                            "name": st.column_config.TextColumn("head", pinned=True)},
             column_order=[c for c in shown.columns if c not in ("layer", "head")])
counts = table.groupby(["run", "label"]).size().unstack(fill_value=0)
st.caption("Heads per label: " + "; ".join(
    f"**{esc(r)}**: " + ", ".join(f"{esc(lab)} {n}" for lab, n in row.items() if n)
    for r, row in counts.iterrows()))
for r in chosen or default:  # say so when a label's rule finds no head, instead of a blank
    unmet = hd.unmet_rules(root, r)
    if unmet:
        st.info(f"**{esc(r)}**: no head is labelled " + ", ".join(esc(u["label"]) for u in unmet)
                + ", because no head is over the threshold:\n" + "\n".join(
                    f"- No head is over the {esc(u['label'])} threshold ({esc(u['score'])} "
                    f"above {u['above']:g}); the best is head {esc(u['head'])} with "
                    f"{u['best']:.2f}."
                    for u in unmet), icon=":material/search_off:")

st.subheader("Layer x head maps")
if not widgets.require(root, run_id, NEEDS, stop=False):
    st.caption(f"Showing **{esc(default[0])}** instead.")
map_run = default[0]
run_table = hd.head_table(root, map_run)
scores = hd.score_columns(run_table)
docs = hd.score_docs(root, map_run)
fractions = data.fraction_scores(root, map_run, "heads/score")
wanted = [s for s in ("induction", "prev_token", "duplicate_token", "first_token") if s in scores]
widgets.link("heads_maps", scores, param="score", default=wanted or scores[:2], multi=True)
maps = st.multiselect("Scores", scores, key="heads_maps")
st.caption("Rows are layers, columns heads; colour and number give the score. "
           + ("The colour range is 0..1 for scores that are fractions, the score's own range "
              "otherwise." if fractions is not None else
              "This run does not record which scores are fractions, so each map is coloured "
              "over its own range."))
cols = st.columns(2)
for i, score in enumerate(maps):
    with cols[i % 2]:
        # Sized by alt.Step in the spec: passing a height here collapses 1-layer maps.
        st.altair_chart(charts.score_map(run_table, score, unit=score in (fractions or ())),
                        width="content")
        if score in docs:
            st.caption(f"**{esc(score)}**: {esc(docs[score])}")

with st.expander("How heads are labelled, and what each score measures"):
    rules = hd.label_rules(root, map_run)
    if rules.get("rules"):
        st.markdown("Labels are tried in this order; the first score above its threshold wins:")
        st.table(escape_cells(pd.DataFrame(rules["rules"])))
        st.markdown(esc(rules.get("how", "")))
        if rules.get("positional_rules"):
            st.json(rules["positional_rules"])
    else:
        st.markdown("This run does not record its labelling rules (older analysis).")
    if docs:
        st.table(escape_cells(pd.DataFrame({"score": list(docs), "meaning": list(docs.values())})))
