"""Fine-tuning: the forgetting-vs-gain trade-off of every variant, what changed in the
weights (relative-change map, singular-value spectra) and how the head labels drifted."""

import streamlit as st

from dashboard import finetune_charts as charts
from dashboard import finetune_data as fd
from dashboard import widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Fine-tuning",
    "A rung trained on one corpus, fine-tuned on another with LoRA or in full. The "
    "trade-off curve puts each variant's saved steps at (gain on the new corpus, forgetting "
    "on the original one), both in nats/token against the base: up and to the right learns "
    "more and forgets more. Below: which weights this run's fine-tune changed (relative "
    "change ‖ΔW‖/‖W₀‖ per layer and matrix, the singular values of ΔW: a LoRA update of "
    "rank r per head has at most heads · r non-zero ones per layer) and which head labels "
    "moved (docs/methods.md §11).",
    needs=widgets.Needs("finetune", "finetune/variant", "fine-tuning analysis",
                        why="it applies to checkpoints written by python -m jobs finetune"))

info = fd.corpora(root, run_id)
curve = fd.tradeoff(root, run_id)
st.subheader("Forgetting against gain")
st.caption(f"Original corpus **{esc(info.get('original_corpus'))}**, new corpus "
           f"**{esc(info.get('new_corpus'))}**; {esc(info.get('tokens_per_corpus'))} held-out "
           "tokens each. Each point is a saved step (its number beside it); this run's variant is "
           "listed first, the others are fine-tunes of the same base written beside it.")
if curve.empty:
    st.info("No saved steps were found for any variant.", icon=":material/info:")
else:
    st.altair_chart(charts.tradeoff_chart(curve), width="stretch")
    last = curve.groupby("variant", sort=False).tail(1)  # rows run variant by variant, step by step
    st.dataframe(last[["variant", "step", "gain", "forgetting", "kl"]].round(4), hide_index=True)

st.subheader("Where the weights changed")
names = fd.matrices(root, run_id)
c_metric, c_matrix = st.columns(2)
widgets.link("finetune_metric", list(fd.METRICS), param="metric")
metric = c_metric.selectbox("Metric", list(fd.METRICS), key="finetune_metric",
                            format_func=lambda m: fd.METRICS[m])
st.altair_chart(charts.change_heatmap(fd.change_map(root, run_id, metric), fd.METRICS[metric], names),
                width="stretch")
st.caption("Attention matrices are taken whole per layer, heads side by side (W_Q as "
           "[d_model, heads·d_head]); a matrix LoRA did not target has ΔW = 0.")

widgets.link("finetune_matrix", names, param="matrix")
matrix = c_matrix.selectbox("Spectrum of", names, key="finetune_matrix")
spectrum = fd.spectra(root, run_id, matrix)
if (spectrum["sigma"] > 0).any():
    st.altair_chart(charts.spectrum_chart(spectrum), width="stretch")
else:
    st.info(f"{esc(matrix)} did not change in this fine-tune (ΔW = 0 in every layer).",
            icon=":material/info:")

st.subheader("Head labels before and after")
drift = fd.drift_table(root, run_id)
widgets.link("finetune_changed_only", [False, True], param="changed")
only = st.toggle("Only heads whose label changed", key="finetune_changed_only")
shown = drift[drift["changed"]] if only else drift
if shown.empty:
    st.info("No head label changed with this fine-tune.", icon=":material/info:")
else:
    st.dataframe(shown, hide_index=True)
