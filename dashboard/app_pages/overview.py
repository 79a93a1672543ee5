"""Overview: the ladder of models in the store, their final metrics and loss curves."""

import pandas as pd
import streamlit as st

from dashboard import data, widgets
from dashboard import overview_charts as charts
from dashboard import overview_data as od
from dashboard.charts import findings_html
from dashboard.pages_registry import page_of_step
from dashboard.text import escape_markdown as esc
from dashboard.text import inline_code

root, run_id = widgets.open_page(
    "Overview",
    "Every complete run of the model ladder, simplest first: how big it is, what it was "
    "trained on, and how far its loss fell. Lower validation loss (nats per token) is "
    "better; perplexity is exp(validation loss).", show_run=False, findings=())

table = od.ladder_table(root)
repeated = table[table["repeat_fraction"] > 0]
for row in repeated.itertuples():
    st.info(f"**{esc(row.run)}** was trained partly on synthetic repeated sequences: "
            f"{row.repeat_fraction:.0%} of its training sequences repeat an earlier span of "
            "themselves (this helps induction heads form in small models). Its losses are "
            "not directly comparable with runs trained on natural text only. "
            + esc(od.data_mix_text(row.repeat_fraction, row.repeat_source, row.corpus)),
            icon=":material/repeat:")

st.subheader("The ladder")
st.dataframe(
    table.drop(columns=["repeat_fraction"]),
    hide_index=True,
    column_order=["run", "rung", "n_layers", "n_params", "tokens_seen", "val_loss",
                  "perplexity", "wall_time_s", "device", "precision", "corpus"],
    column_config={
        "run": st.column_config.TextColumn("run", pinned=True),
        "rung": "rung",
        "n_layers": st.column_config.NumberColumn("layers", format="%d"),
        "n_params": st.column_config.NumberColumn("parameters", format="compact"),
        "tokens_seen": st.column_config.NumberColumn("tokens seen", format="compact"),
        "val_loss": st.column_config.NumberColumn("validation loss", format="%.3f"),
        "perplexity": st.column_config.NumberColumn("perplexity", format="%.2f"),
        "wall_time_s": st.column_config.NumberColumn("wall time (s)", format="%.1f"),
        "device": "device",
        "precision": "precision",
        "corpus": "corpus",
    },
)

damaged = data.damaged_runs(root)
if damaged:
    st.warning("Some runs in this store cannot be read and are left out of every page; "
               "re-run their jobs (`python -m jobs analyze ... --overwrite`) to rebuild them:",
               icon=":material/report:")
    st.dataframe(pd.DataFrame({"run": list(damaged), "what is wrong": list(damaged.values())}),
                 hide_index=True)

st.subheader(f"Findings of {esc(run_id)}")
found = data.findings(root, run_id)
if found:
    st.caption("What each analysis step wrote into the run (result, nothing found, or caveat); "
               "each page opens with its own. Pick another run in the sidebar for its findings.")
    for step, items in found.items():
        target = page_of_step(step)
        c_step, c_items = st.columns([1, 4])
        if target is not None:
            c_step.page_link(target.script, label=target.title, icon=target.icon,
                             query_params={"run": run_id})
        else:
            c_step.markdown(inline_code(step))
        c_items.html(findings_html(items))
else:
    st.info(f"Run **{esc(run_id)}** records no findings (its analysis predates them, or no step "
            "wrote any): the pages still show everything it stores.", icon=":material/info:")
others = [r for r in table["run"] if r != run_id and data.findings(root, r)]
if others:
    st.caption("Other runs with findings: " + ", ".join(map(esc, others)) + ".")

st.subheader("Loss curves")
st.caption("Lines: training loss as logged during training. Diamonds: validation loss on "
           "held-out text. Hover for values; a log x axis shows the early phase changes.")
left, mid, _ = st.columns([1, 1, 3])
widgets.link("overview_log_x", [True, False], param="log_x", default=False)
log_x = left.toggle("Log x axis", key="overview_log_x")
widgets.link("overview_x", ["tokens_seen", "step"], param="x")
x_axis = mid.radio("x axis", ["tokens_seen", "step"], key="overview_x", horizontal=True,
                   format_func=lambda v: {"tokens_seen": "tokens seen", "step": "step"}[v],
                   label_visibility="collapsed")
train, val = od.training_curves(root, tuple(table["run"]))
if train.empty and val.empty:
    st.info("No run in this store has training curves (runs analysed from imported "
            "checkpoints have none).", icon=":material/info:")
else:
    st.altair_chart(charts.loss_curves(train, val, log_x=log_x, x=x_axis), width="stretch")

with st.expander(f"Configuration of the selected run ({esc(run_id)})"):
    attrs = data.run_attrs(root, run_id)
    st.caption(widgets.run_caption(root, run_id))
    st.json({k: attrs.get(k) for k in ("config", "tokenizer", "training", "prompts", "steps",
                                       "provenance") if k in attrs}, expanded=1)
