"""Patching: how much of the clean behaviour each patched activation restores, per experiment."""

import streamlit as st

from dashboard import data, widgets
from dashboard import patching_charts as charts
from dashboard import patching_data as ptd

root, run_id = widgets.open_page(
    "Patching",
    "Activation patching runs the corrupted prompt and overwrites one activation with its "
    "value from the clean prompt (denoising). Each cell is the normalised logit difference "
    "that results: 0 = corrupted behaviour, 1 = clean behaviour restored (values outside "
    "0..1 happen). Attribution patching estimates every cell at once from one gradient; the "
    "scatter shows how well it agrees.")

experiments = ptd.experiments(root, run_id)  # also names the experiments that were skipped
if not experiments:
    widgets.require(root, run_id, widgets.Needs("patching", "patching/", "patching experiments",
                                                why="it needs a model with attention layers"))
    widgets.missing_data(f"Run **{run_id}** holds patching arrays but does not record its "
                         "experiments (root attr `patching`): re-run its patching step.")
c_exp, c_gran, c_dir = st.columns([1.5, 2, 1.5])
widgets.keep_valid("patching_experiment", list(experiments))
name = c_exp.selectbox("Experiment", list(experiments), key="patching_experiment")
meta = experiments[name]
if "skipped" in meta:
    st.info(f"Experiment **{name}** was not run: {meta['skipped']}", icon=":material/info:")
    st.stop()
grans = ptd.granularities(root, run_id, name)
if not grans:
    widgets.missing_data(f"Experiment **{name}** of run **{run_id}** stores no patching grids.")
widgets.keep_valid("patching_granularity", grans)
gran = c_gran.selectbox("Granularity", grans, key="patching_granularity")
directions = ptd.directions(root, run_id, name, gran)
widgets.keep_valid("patching_direction", directions)
direction = c_dir.radio("Attribution direction", directions, key="patching_direction",
                        horizontal=True)
st.markdown(f"**What:** {meta.get('what', '')}. **Metric:** logit difference "
            f"answer − wrong at position {meta.get('metric_pos')} ({meta.get('answer', 'answer')} "
            f"vs {meta.get('wrong', 'wrong')}); clean LD = "
            f"{meta.get('clean_logit_diff', float('nan')):.3f}, corrupted LD = "
            f"{meta.get('corrupted_logit_diff', float('nan')):.3f}.")

grids = ptd.patching_grid(root, run_id, name, gran)
dims = grids.act.dims
tokens = data.prompt_tokens(root, run_id, 0, f"patching/{name}/clean_tokens", "pair")
widgets.keep_valid("patching_layer", list(range(grids.act.sizes.get("layer", 0))))
layer = (st.selectbox("Layer", range(grids.act.sizes["layer"]), key="patching_layer")
         if len(dims) == 3 else 0)
grid = ptd.grid_2d(grids.act, layer)
a_grid = ptd.grid_2d(grids.atp.isel(direction=directions.index(direction)), layer)
denoise = ptd.grid_2d(grids.atp.isel(direction=0), layer)
y_ax, x_ax = grid.dims
labels = {d: ptd.axis_labels(d, grid.sizes[d], grids.positions, tokens) for d in grid.dims}
st.caption(f"Patched: {gran} ({', '.join(dims)}). Rows {y_ax}, columns {x_ax}"
           + (f"; layer {layer}." if len(dims) == 3 else "."))
c_act, c_atp = st.columns(2)
c_act.altair_chart(charts.patch_heatmap(grid.values, labels[x_ax], labels[y_ax], x_title=x_ax,
                                        y_title=y_ax,
                                        title=f"activation patching ({directions[0]})"),
                   width="content")
c_atp.altair_chart(charts.patch_heatmap(a_grid.values, labels[x_ax], labels[y_ax], x_title=x_ax,
                                        y_title=y_ax, title=f"attribution patching ({direction})"),
                   width="content")

st.subheader("Attribution vs activation patching")
cells = [f"{y}/{x}" for y in labels[y_ax] for x in labels[x_ax]]
st.altair_chart(charts.atp_scatter(grid.values, denoise.values, cells), width="content")
st.caption("Denoising attribution against denoising activation patching, one point per cell; "
           "the dashed line is perfect agreement. Attribution is a first-order estimate: good for "
           "small activations such as head outputs, poor for the residual stream.")

if data.has_array(root, run_id, f"patching/{name}/path_to_logits"):
    st.subheader("Path patching (noising)")
    st.caption("Each head's corrupted output sent only along one path, everything else clean: "
               "into the logits directly (left), or into a next-layer head's key (right). "
               "Low values mean that path carries the behaviour.")
    to_logits = data.read_array(root, run_id, f"patching/{name}/path_to_logits")
    heads = [f"H{h}" for h in range(to_logits.shape[1])]
    layers = [f"L{l}" for l in range(to_logits.shape[0])]
    c_l, c_k = st.columns(2)
    c_l.altair_chart(charts.patch_heatmap(to_logits, heads, layers, x_title="head",
                                          y_title="layer", title="sender -> logits"),
                     width="content")
    to_key = ptd.path_to_next_input(root, run_id, name, "k")
    if to_key is not None and to_key[1]:
        k_grid, senders = to_key
        c_k.altair_chart(charts.patch_heatmap(k_grid, heads, senders,
                                              x_title="receiver head (next layer)",
                                              y_title="sender", title="sender -> receiver key"),
                         width="content")
