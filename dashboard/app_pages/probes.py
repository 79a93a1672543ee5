"""Probes: how well a linear probe reads each token property of the text off the residual
stream, layer by layer, next to its control task, the majority baseline and a random-init
copy of the model (docs/methods.md §8)."""

import streamlit as st

from dashboard import probes_charts as charts
from dashboard import probes_data as prd
from dashboard import widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Probes",
    "A logistic-regression probe is trained on the frozen residual stream at each point "
    "(the token embedding alone, the input of every block, the final output) to predict a "
    "property of the text the token sits in, and tested on held-out prompts. Read the "
    "accuracy against the majority baseline (always guessing the commonest class) and the "
    "control task (each token type given a random class): selectivity, accuracy minus control, "
    "is what the probe reads beyond token identity. The random-init model shows what the "
    "architecture and tokens give without training.",
    needs=widgets.Needs("probes", "probes/accuracy", "probes",
                        why="it needs a tokenizer and a corpus with registered properties"))

props = prd.properties(root, run_id)
names = list(props)
widgets.link("probes_property", names, param="property")
prop = st.selectbox("Property", names, key="probes_property",
                    format_func=lambda n: f"{props[n]['description']} ({n})")
info = props[prop]
table = prd.property_table(root, run_id, prop)
meta = prd.settings(root, run_id)
st.caption(f"Classes: {esc(info['classes'])}. {esc(info['n_tokens'])} labelled tokens from "
           f"{esc(meta.get('n_prompts', '?'))} prompts of held-out {esc(meta.get('corpus', '?'))} "
           f"text, {esc(meta.get('n_splits', '?'))} prompt-wise folds; error bars: "
           f"{esc(meta.get('ci', '95% bootstrap CI over test prompts'))}.")

st.subheader("Accuracy by layer")
st.altair_chart(charts.accuracy_chart(table, majority=info["majority"]), width="stretch")
st.subheader("Selectivity by layer")
st.altair_chart(charts.selectivity_chart(table), width="stretch")
st.caption("Selectivity near zero means a probe of token identity alone does as well: the "
           "accuracy need not show that the model represents the property.")
st.dataframe(table.drop(columns="order").round(3), hide_index=True)
