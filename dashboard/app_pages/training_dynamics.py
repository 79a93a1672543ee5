"""Training dynamics: loss with the induction phase change, head scores and ICL over training."""

import streamlit as st

from dashboard import data, widgets
from dashboard import training_dynamics_charts as charts
from dashboard import training_dynamics_data as tdd
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Training dynamics",
    "How the model changed while it trained, from the checkpoints kept at log-spaced steps. "
    "The red band is the phase change, where induction heads form (the rule that finds it is "
    "stated below). Read the charts together: induction heads form, the loss bends, and the "
    "ICL score (late-token minus early-token loss) drops below 0.",
    needs=widgets.Needs("dynamics", "dynamics/step", "training dynamics",
                        why="it needs attention layers and the log-spaced checkpoints the "
                            "training job keeps; imported checkpoints have none"))

training = data.run_attrs(root, run_id).get("training", {})
if training.get("repeat_fraction"):
    source = ("random frequent tokens" if training.get("repeat_source") == "random"
              else "the sequence's own text")
    st.info(f"This run was trained partly on synthetic repetition: "
            f"{training['repeat_fraction']:.0%} of its training sequences repeat a span "
            f"({source}) at a random offset and length, which helps induction heads form on "
            "a small CPU budget. The rest is natural text.", icon=":material/repeat:")
else:
    st.caption("Trained on natural text only (no synthetic repeated sequences).")

dyn = tdd.dynamics(root, run_id)
phase = dyn.attrs.get("phase_change")
rule = esc(tdd.phase_rule_text(dyn.attrs))
if phase:
    st.success(f"Phase change between step {phase['start_step']:,} and {phase['end_step']:,} "
               f"({phase['start_tokens']:,} to {phase['end_tokens']:,} tokens seen): {rule}.",
               icon=":material/trending_up:")
else:
    best = tdd.final_best(dyn)
    st.info(f"No phase change in these checkpoints. The band would mark where {rule}"
            + (f"; final best: {best:.2f}." if best is not None else "."), icon=":material/info:")
widgets.link("dynamics_log_x", [True, False], param="log_x", default=True)
log_x = st.toggle("Log x axis", key="dynamics_log_x",
                  help="Decade ticks; checkpoints at 0 tokens are left out on a log axis.")

st.subheader("Loss")
st.caption("Blue: training loss as logged. Orange: evaluation loss at each kept checkpoint."
           + (" Training batches hold the synthetic spans, whose random tokens cannot be "
              "predicted until they repeat, so training loss sits above the evaluation loss "
              "on natural text; its drop at the phase change is the induction head learning "
              "to predict the repeats." if training.get("repeat_fraction") else ""))
st.altair_chart(charts.loss_with_phase(tdd.training_loss(root, run_id), dyn.checkpoints, phase,
                                       log_x=log_x), width="stretch")

st.subheader("Head scores")
names = sorted(dyn.heads["score"].unique())
default = [s for s in (tdd.phase_score(dyn.attrs) or "induction", "prev_token") if s in names]
widgets.link("dynamics_scores", names, param="score", default=default, multi=True)
chosen = st.multiselect("Scores", names, key="dynamics_scores")
heads = sorted(dyn.heads["head"].unique())
top = tdd.top_heads(dyn, chosen, 8)
widgets.link("dynamics_heads", heads, param="head", default=top, multi=True)
picked = st.multiselect("Heads", heads, key="dynamics_heads",
                        help="Starts with the 8 heads that score highest on the chosen scores.")
frame = dyn.heads[dyn.heads["head"].isin(picked)]
fractions = data.fraction_scores(root, run_id, "dynamics/score")
unit = fractions is not None and set(chosen) <= fractions
st.caption(f"One line per head (colour) and score (dash); {len(picked)} of {len(heads)} heads "
           "shown. Induction heads rise together at the phase change; previous-token heads "
           "they rely on usually form first."
           + ("" if unit else " The y axis spans the values (not every shown score is "
              "recorded as a fraction)."))
st.altair_chart(charts.scores_over_training(frame, chosen, phase, log_x=log_x, unit=unit),
                width="stretch")

st.subheader("In-context learning")
if dyn.checkpoints.get("icl_score") is not None and dyn.checkpoints["icl_score"].notna().any():
    st.caption("ICL score = loss on a late token minus loss on an early token of the same text "
               "(Olsson et al.); more negative means later tokens are predicted better thanks "
               "to the context.")
    st.altair_chart(charts.icl_chart(dyn.checkpoints, phase, log_x=log_x), width="stretch")
else:
    st.info("The evaluation prompts are too short for an ICL score.", icon=":material/info:")

st.subheader("Loss by token position")
st.caption("Mean loss at each position of the evaluation text, one line per checkpoint; after "
           "the phase change the late positions fall below the early ones.")
st.altair_chart(charts.loss_by_position_chart(dyn.loss_by_pos), width="stretch")
