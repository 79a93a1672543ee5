"""Patching: how much of the clean behaviour each patched activation restores, per experiment."""

import numpy as np
import streamlit as st

from dashboard import charts_attribution as charts_a
from dashboard import data, data_attribution as da, widgets

root, run_id = widgets.selected_run()
st.title("Patching")
st.caption("Activation patching runs the corrupted prompt and overwrites one activation with "
           "its value from the clean prompt (denoising). Each cell is the normalised logit "
           "difference that results: 0 = corrupted behaviour, 1 = clean behaviour restored "
           "(values outside 0..1 happen). Attribution patching estimates every cell at once from "
           "one gradient; the scatter shows how well it agrees.")
st.markdown(widgets.run_caption(root, run_id))

experiments = da.patching_experiments(root, run_id)
if not experiments:
    others = [r for r in data.list_runs(root) if da.patching_experiments(root, r)]
    widgets.missing_data(f"Run **{run_id}** has no patching experiments: run the analysis job "
                         "on a model with attention layers.", alternatives=others)

c_exp, c_gran, c_dir = st.columns([1.5, 2, 1.5])
name = c_exp.selectbox("Experiment", list(experiments), key="patching_experiment")
meta = experiments[name]
if "skipped" in meta:
    st.info(f"Experiment **{name}** was not run: {meta['skipped']}", icon=":material/info:")
    st.stop()
grans = [g for g in da.GRANULARITY_AXES if data.has_array(root, run_id, f"patching/{name}/act_{g}")]
gran = c_gran.selectbox("Granularity", grans, key="patching_granularity")
direction = c_dir.radio("Attribution direction", ["denoise", "noise"], key="patching_direction",
                        horizontal=True)
st.markdown(f"**What:** {meta.get('what', '')}. **Metric:** logit difference "
            f"answer − wrong at position {meta.get('metric_pos')} ({meta.get('answer', 'answer')} vs "
            f"{meta.get('wrong', 'wrong')}); clean LD = {meta.get('clean_logit_diff', float('nan')):.3f}, "
            f"corrupted LD = {meta.get('corrupted_logit_diff', float('nan')):.3f}.")

act, atp, positions = da.patching_grid(root, run_id, name, gran)
axes = da.GRANULARITY_AXES[gran]
clean = data.read_array(root, run_id, f"patching/{name}/clean_tokens", pair=0)
tok = da.tokens_of(root, run_id, clean)
labels = {"layer": [f"L{l}" for l in range(act.shape[axes.index("layer")])],
          "head": [f"H{h}" for h in range(act.shape[axes.index("head")])] if "head" in axes else [],
          "pos": [f"{p}:{tok[p][:8]!r}" for p in positions]}
layer = st.selectbox("Layer", range(act.shape[0]), key="patching_layer") if len(axes) == 3 else 0
grid, y_ax, x_ax = da.grid_2d(act, axes, layer)
a_grid, _, _ = da.grid_2d(atp[0 if direction == "denoise" else 1], axes, layer)
st.caption(f"Patched: {gran} ({', '.join(axes)}). Rows {y_ax}, "
           f"columns {x_ax}" + (f"; layer {layer}." if len(axes) == 3 else "."))
c_act, c_atp = st.columns(2)
c_act.altair_chart(charts_a.patch_heatmap(grid, labels[x_ax], labels[y_ax], x_title=x_ax, y_title=y_ax,
                                          title="activation patching (denoise)"), width="content")
c_atp.altair_chart(charts_a.patch_heatmap(a_grid, labels[x_ax], labels[y_ax], x_title=x_ax, y_title=y_ax,
                                          title=f"attribution patching ({direction})"), width="content")

st.subheader("Attribution vs activation patching")
cells = [f"{y}/{x}" for y in labels[y_ax] for x in labels[x_ax]]
st.altair_chart(charts_a.atp_scatter(grid, da.grid_2d(atp[0], axes, layer)[0], cells), width="content")
st.caption("Denoising attribution against denoising activation patching, one point per cell; "
           "the dashed line is perfect agreement. Attribution is a first-order estimate: good for "
           "small activations such as head outputs, poor for the residual stream.")

if data.has_array(root, run_id, f"patching/{name}/path_to_logits"):
    st.subheader("Path patching (noising)")
    st.caption("Each head's corrupted output sent only along one path, everything else clean: "
               "into the logits directly (left), or into a next-layer head's key (right). "
               "Low values mean that path carries the behaviour.")
    to_logits = data.read_array(root, run_id, f"patching/{name}/path_to_logits")
    to_next = data.read_array(root, run_id, f"patching/{name}/path_to_next")
    heads = [f"H{h}" for h in range(to_logits.shape[1])]
    layers = [f"L{l}" for l in range(to_logits.shape[0])]
    c_l, c_k = st.columns(2)
    c_l.altair_chart(charts_a.patch_heatmap(to_logits, heads, layers, x_title="head", y_title="layer",
                                            title="sender -> logits"), width="content")
    senders = [f"L{l}H{h}" for l in range(to_next.shape[0] - 1) for h in range(to_next.shape[1])]
    if senders:
        k_grid = np.asarray(to_next[:-1, :, :, 1]).reshape(len(senders), -1)
        c_k.altair_chart(charts_a.patch_heatmap(k_grid, heads, senders, x_title="receiver head (next layer)",
                                                y_title="sender", title="sender -> receiver key"),
                         width="content")
