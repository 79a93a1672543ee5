"""XOR: the 2-2-1 MLP's decision boundary and hidden units over training, for a seed that
solves XOR and one that gets stuck, side by side, with their loss curves."""

import streamlit as st

from dashboard import widgets
from dashboard import xor_charts as charts
from dashboard import xor_data as xd
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "XOR",
    "The smallest net that can learn XOR (2 inputs, 2 hidden units, 1 output) at one training "
    "step: the colour is the net's P(x XOR y = 1) over the input plane (blue 0, red 1: the "
    "decision boundary is where blue turns red), the dashed lines are where each hidden "
    "unit's pre-activation is zero, and the circles are the four points (filled: label 1). "
    "Left: the seed the checkpoint was trained with; right: the first searched seed with the "
    "other outcome. Slide the step to watch the lines move.",
    needs=widgets.Needs("xor", "xor/boundary", "XOR training history",
                        why="only the xor-mlp rung has one"))

seeds = xd.seed_table(root, run_id)
steps = xd.steps(root, run_id)
widgets.link("xor_step", steps, param="step", default=steps[-1])
step = st.select_slider("Training step", options=steps, key="xor_step",
                        help="The recorded, log-spaced optimizer steps.")
t = steps.index(step)

columns = st.columns(2)
for row, column in zip(seeds.itertuples(), columns):
    with column:
        st.markdown(f"**Seed {esc(row.seed)}** ({esc(row.role)}): {esc(row.outcome)}, final loss "
                    f"{row.final_loss:.3g}, {row.final_accuracy:.0%} of the points right")
        points = xd.points_frame(root, run_id, row.index, t)
        st.altair_chart(charts.plane_chart(xd.boundary_frame(root, run_id, row.index, t),
                                           xd.lines_frame(root, run_id, row.index, t), points,
                                           title=f"seed {row.seed} at step {step}"),
                        width="stretch")
        st.dataframe(points.drop(columns=["x", "y"]), hide_index=True,
                     column_config={c: st.column_config.NumberColumn(format="%.3f")
                                    for c in points.columns if c == "P(1)" or c.startswith("h")})
if len(seeds) == 1:
    columns[1].info("The seed search found no seed with the other outcome, so there is "
                    "nothing to compare this one with.", icon=":material/info:")
st.caption("The table lists each point's hidden code (h0, h1: the hidden units' activations): "
           "the output unit sees only this code, so two points with different labels and the "
           "same code cannot both be right, which is how a seed gets stuck.")

st.subheader("Loss over training")
st.caption("Mean cross-entropy on the four points (nats) at the recorded steps; the dashed "
           "rule marks the step shown above. A stuck seed's loss flattens at 0.35 (0.5 ln 2: "
           "two points left at P = 0.5), 0.48 or 0.69 (ln 2).")
st.altair_chart(charts.loss_chart(xd.loss_frame(root, run_id), step), width="stretch")
