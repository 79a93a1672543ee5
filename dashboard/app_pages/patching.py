"""Patching: how much of the clean behaviour each patched activation restores, per experiment."""

import streamlit as st

from dashboard import data, widgets
from dashboard import patching_charts as charts
from dashboard import patching_data as ptd
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Patching",
    "Activation patching runs the corrupted prompt and overwrites one activation with its "
    "value from the clean prompt (denoising). Each cell is the normalised logit difference "
    "that results: 0 = corrupted behaviour, 1 = clean behaviour restored (values outside "
    "0..1 happen). Attribution patching estimates every cell at once from one gradient; the "
    "scatter shows how well it agrees.", findings="patching")

experiments = ptd.experiments(root, run_id)  # also names the experiments that were skipped
if not experiments:
    widgets.require(root, run_id, widgets.Needs("patching", "patching/", "patching experiments",
                                                why="it needs a model with attention layers"))
    widgets.missing_data(f"Run **{esc(run_id)}** holds patching arrays but does not record its "
                         "experiments (root attr `patching`): re-run its patching step.")
c_exp, c_gran, c_dir = st.columns([1.5, 2, 1.5])
widgets.link("patching_experiment", list(experiments), param="experiment")
name = c_exp.selectbox("Experiment", list(experiments), key="patching_experiment")
meta = experiments[name]
if "skipped" in meta:
    st.info(f"Experiment **{esc(name)}** was not run: {esc(meta['skipped'])}",
            icon=":material/info:")
    st.stop()
grans = ptd.granularities(root, run_id, name)
if not grans:
    widgets.missing_data(f"Experiment **{esc(name)}** of run **{esc(run_id)}** stores no patching "
                         "grids.")
widgets.link("patching_granularity", grans, param="gran")
gran = c_gran.selectbox("Granularity", grans, key="patching_granularity")
directions = ptd.directions(root, run_id, name, gran)
widgets.link("patching_direction", directions, param="direction")
direction = c_dir.radio("Attribution direction", directions, key="patching_direction",
                        horizontal=True, format_func=esc)
sig = ptd.signal(meta)
st.markdown(f"**What:** {esc(meta.get('what', ''))}. **Metric:** logit difference answer − "
            f"wrong at position {meta.get('metric_pos')} ({esc(meta.get('answer', 'answer'))} "
            f"vs {esc(meta.get('wrong', 'wrong'))}); clean LD = {sig.clean:.3f}, corrupted LD = "
            f"{sig.corrupted:.3f}.")
if sig.signal is False:
    st.warning(f"**Nothing to explain.** On this experiment the clean and corrupted "
               f"behaviour are within noise (clean LD {sig.clean:.3f}, corrupted LD "
               f"{sig.corrupted:.3f}): {esc(sig.note or 'the patching step found no signal')}"
               + (f" (rule: {esc(sig.rule)})" if sig.rule else "") + ". The normalised maps "
               "divide by that tiny difference, so they show noise, not a mechanism; they are "
               "kept below, collapsed, for completeness.", icon=":material/block:")
    body = st.expander("Normalised maps of an experiment with nothing to explain (noise)")
elif sig.signal is True:
    st.success(f"**Something to explain:** {esc(sig.note or 'clean and corrupted differ')}"
               + (f" (rule: {esc(sig.rule)})" if sig.rule else "") + ".",
               icon=":material/check_circle:")
    body = st.container()
else:
    st.info(f"This run does not record whether the experiment has anything to explain (an "
            f"older patching step). Its clean and corrupted logit differences are "
            f"{sig.clean:.3f} and {sig.corrupted:.3f}: the maps mean something only when these "
            "are clearly apart.", icon=":material/info:")
    body = st.container()

with body:
    grids = ptd.patching_grid(root, run_id, name, gran)
    dims = grids.act.dims
    tokens = data.prompt_tokens(root, run_id, 0, f"patching/{name}/clean_tokens", "pair")
    if len(dims) == 3:
        widgets.link("patching_layer", list(range(grids.act.sizes["layer"])), param="layer")
        layer = st.selectbox("Layer", range(grids.act.sizes["layer"]), key="patching_layer")
    else:
        layer = 0
    grid = ptd.grid_2d(grids.act, layer)
    a_grid = ptd.grid_2d(grids.atp.isel(direction=directions.index(direction)), layer)
    denoise = ptd.grid_2d(grids.atp.isel(direction=0), layer)
    y_ax, x_ax = grid.dims
    labels = {d: ptd.axis_labels(d, grid.sizes[d], grids.positions, tokens) for d in grid.dims}
    metric_pos = ptd.metric_position(meta, len(tokens))
    mark = None
    if x_ax == "patch_pos" and metric_pos in grids.positions.tolist():
        mark = labels[x_ax][grids.positions.tolist().index(metric_pos)]
    st.caption(f"Patched: {esc(gran)} ({esc(', '.join(dims))}). Rows {esc(y_ax)}, "
               f"columns {esc(x_ax)}"
               + (f"; layer {layer}" if len(dims) == 3 else "")
               + (f". The outlined column is the position the metric is read at ({esc(mark)})."
                  if mark else "."))
    wide = grid.sizes[x_ax] > 24  # many columns: one map per row, so the cells stay legible
    c_act, c_atp = (st.container(), st.container()) if wide else st.columns(2)
    value_title = "normalised logit diff (0 corrupted, 1 clean)"
    for col, values, title in ((c_act, grid.values, f"activation patching ({directions[0]})"),
                               (c_atp, a_grid.values, f"attribution patching ({direction})")):
        col.altair_chart(charts.patch_heatmap(values, labels[x_ax], labels[y_ax], x_title=x_ax,
                                              y_title=y_ax, value_title=value_title,
                                              title=title, mark_x=mark), width="stretch")

    st.subheader("Attribution vs activation patching")
    cells = [f"{y}/{x}" for y in labels[y_ax] for x in labels[x_ax]]
    c_scatter, c_note = st.columns([3, 2])
    c_scatter.altair_chart(charts.atp_scatter(grid.values, denoise.values, cells), width="stretch")
    c_note.metric("Pearson r", f"{charts.pearson(grid.values, denoise.values):.3f}",
                  help="Correlation of the estimate with the true patching effect over cells.")
    c_note.caption("Denoising attribution against denoising activation patching, one point per "
                   "cell; the dashed line is perfect agreement. Attribution is a first-order "
                   "estimate: good for small activations such as head outputs, poor for the "
                   "residual stream.")

    if data.has_array(root, run_id, f"patching/{name}/path_to_logits"):
        st.subheader("Path patching (noising)")
        st.caption("Each head's corrupted output sent only along one path, everything else "
                   "clean: into the logits directly (left), or into a next-layer head's key "
                   "(right). Low values mean that path carries the behaviour.")
        path_attrs = data.array_attrs(root, run_id, f"patching/{name}/path_to_logits")
        if str(path_attrs.get("senders", "every head")) != "every head":
            st.caption(f"Senders swept: {esc(str(path_attrs['senders']))} (blank cells: not swept).")
        to_logits = data.read_array(root, run_id, f"patching/{name}/path_to_logits")
        heads = [f"H{h}" for h in range(to_logits.shape[1])]
        layers = [f"L{l}" for l in range(to_logits.shape[0])]
        c_l, c_k = st.columns(2)
        c_l.altair_chart(charts.patch_heatmap(to_logits, heads, layers, x_title="head",
                                              y_title="layer", title="sender -> logits"),
                         width="stretch")
        to_key = ptd.path_to_next_input(root, run_id, name, "k")
        if to_key is not None and to_key[1]:
            k_grid, senders = to_key
            c_k.altair_chart(charts.patch_heatmap(k_grid, heads, senders,
                                                  x_title="receiver head (next layer)",
                                                  y_title="sender",
                                                  title="sender -> receiver key"),
                             width="stretch")
