"""Training dynamics: loss with the induction phase change, head scores and ICL over training."""

import streamlit as st

from dashboard import charts_heads, data, data_heads, widgets

root, run_id = widgets.selected_run()
st.title("Training dynamics")
st.caption("How the model changed while it trained, from the checkpoints kept at log-spaced "
           "steps. The red band is the phase change: where the best induction score rose "
           "from below 0.1 to above 0.5. Read the charts together: induction heads form, the "
           "loss bends, and the ICL score (late-token minus early-token loss) drops below 0.")
st.markdown(widgets.run_caption(root, run_id))

if not data_heads.has_dynamics(root, run_id):
    others = [r for r in data.list_runs(root) if data_heads.has_dynamics(root, r)]
    widgets.missing_data(f"Run **{run_id}** has no training dynamics: it needs attention layers "
                         "and the log-spaced checkpoints the training job keeps (imported "
                         "checkpoints have none).", alternatives=others)

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

dyn = data_heads.dynamics(root, run_id)
phase = dyn.attrs.get("phase_change")
if phase:
    st.success(f"Phase change between step {phase['start_step']:,} and {phase['end_step']:,} "
               f"({phase['start_tokens']:,} to {phase['end_tokens']:,} tokens seen).",
               icon=":material/trending_up:")
else:
    best = dyn.checkpoints.get("max_induction")
    st.info("No phase change in these checkpoints: the best induction score never went from "
            f"below 0.1 to above 0.5 (final best: {float(best.iloc[-1]):.2f})."
            if best is not None else "No phase change recorded.", icon=":material/info:")
log_x = st.toggle("Log x axis", value=True, key="dynamics_log_x")

st.subheader("Loss")
st.caption("Blue: training loss as logged. Orange: evaluation loss at each kept checkpoint.")
st.altair_chart(charts_heads.loss_with_phase(data_heads.training_loss(root, run_id),
                                             dyn.checkpoints, phase, log_x=log_x), width="stretch")

st.subheader("Head scores")
names = sorted(dyn.heads["score"].unique())
default = [s for s in ("induction", "prev_token") if s in names]
chosen = st.multiselect("Scores", names, default=default, key="dynamics_scores")
heads = sorted(dyn.heads["head"].unique())
picked = st.multiselect("Heads", heads, default=heads, key="dynamics_heads")
frame = dyn.heads[dyn.heads["head"].isin(picked)]
st.caption("One line per head (colour) and score (dash). Induction heads rise together at "
           "the phase change; previous-token heads they rely on usually form first.")
st.altair_chart(charts_heads.scores_over_training(frame, chosen, phase, log_x=log_x),
                width="stretch")

st.subheader("In-context learning")
if dyn.checkpoints.get("icl_score") is not None and dyn.checkpoints["icl_score"].notna().any():
    st.caption("ICL score = loss on a late token minus loss on an early token of the same "
               "text (Olsson et al.); more negative means later tokens are predicted better "
               "thanks to the context.")
    st.altair_chart(charts_heads.icl_chart(dyn.checkpoints, phase, log_x=log_x), width="stretch")
else:
    st.info("The evaluation prompts are too short for an ICL score.", icon=":material/info:")

st.subheader("Loss by token position")
st.caption("Mean loss at each position of the evaluation text, one line per checkpoint; after "
           "the phase change the late positions fall below the early ones.")
st.altair_chart(charts_heads.loss_by_position_chart(dyn.loss_by_pos), width="stretch")
