"""Notebook: the user's own notes on a run, and predictions scored against the stored results."""

import streamlit as st

from dashboard import notebook_charts as charts
from dashboard import notebook_data as nb
from dashboard import widgets
from dashboard.text import escape_markdown as esc
from dashboard.text import inline_code

root, run_id = widgets.open_page(
    "Notebook",
    "Your lab notebook for the picked run: notes in markdown, saved as a file beside the "
    "store (never inside a run), and predictions. Write down what you expect before a page "
    "shows it; once you commit a prediction the stored result is revealed and scored.",
    findings=())

st.subheader("Notes")
draft = st.session_state.get("notebook_draft")  # unsaved text survives a visit to another page
if ("notebook_text" not in st.session_state
        or st.session_state.get("notebook_loaded") != (root, run_id)):
    st.session_state["notebook_text"] = (draft[2] if draft and draft[:2] == (root, run_id)
                                         else nb.read_notes(root, run_id))
    st.session_state["notebook_loaded"] = (root, run_id)
write, preview = st.tabs(["Write", "Preview"])
text = write.text_area("Notes (markdown)", key="notebook_text", height=260,
                       placeholder="Hypotheses, what you tried, what surprised you...",
                       on_change=lambda: st.session_state.__setitem__(
                           "notebook_draft", (root, run_id, st.session_state["notebook_text"])))
c_save, c_where = write.columns([1, 4])
if c_save.button("Save notes", icon=":material/save:", key="notebook_save"):
    try:
        path = nb.save_notes(root, run_id, text)
        st.toast(f"Saved {esc(path.name)}")
        c_where.success(f"Saved to {inline_code(path)}.", icon=":material/check:")
    except nb.NotebookError as err:
        c_where.error(esc(err), icon=":material/error:")
else:
    c_where.caption(f"Stored in {inline_code(nb.notes_path(root, run_id))}.")
with preview:
    st.markdown(text or "*No notes yet.*")  # the user's own markdown

st.subheader("Predictions")
questions = nb.questions(root, run_id)
if not questions:
    st.info(f"Run **{esc(run_id)}** stores no result a prediction can be scored against yet "
            "(head labels, K-composition or patching experiments).", icon=":material/info:")
    st.stop()
st.caption("Commit an answer first: the stored result is revealed only after that.")
committed = nb.read_predictions(root, run_id)
n_right = sum(nb.is_correct(q, committed[q.id]["answer"]) for q in questions if q.id in committed)
if committed:
    st.markdown(f"Score so far: **{n_right} of {sum(q.id in committed for q in questions)}** "
                "committed predictions match the stored results.")
for i, q in enumerate(questions):
    with st.container(border=True):
        st.markdown(f"**{esc(q.text)}**")
        record = committed.get(q.id)
        if record is None:
            c_pick, c_commit = st.columns([3, 1], vertical_alignment="bottom")
            pick = c_pick.selectbox("Your prediction", q.options, index=None, key=f"notebook_q{i}",
                                    placeholder="pick one")
            if c_commit.button("Commit prediction", key=f"notebook_commit{i}",
                               disabled=pick is None):
                try:
                    nb.commit_prediction(root, run_id, q, pick)
                    st.rerun()
                except nb.NotebookError as err:
                    st.error(esc(err), icon=":material/error:")
            continue
        answer = record["answer"]
        right = nb.is_correct(q, answer)
        verdict = "Right" if right else "Not this time"
        (st.success if right else st.error)(
            f"{verdict}: you predicted **{esc(answer)}**; the stored answer is "
            f"**{esc(', '.join(sorted(q.answers)))}**. {esc(q.reveal)}",
            icon=":material/check_circle:" if right else ":material/cancel:")
        st.caption(f"Committed {esc(record.get('committed_at', ''))}; answer from "
                   f"{inline_code(q.source)}.")
        scores = nb.head_scores(root, run_id, q.score) if q.score else {}
        if scores:
            st.altair_chart(charts.reveal_bars(scores, q.score, picked=answer, answers=q.answers),
                            width="stretch")
        if st.button("Predict again", key=f"notebook_forget{i}", icon=":material/undo:"):
            try:
                nb.forget_prediction(root, run_id, q.id)
                st.rerun()
            except nb.NotebookError as err:
                st.error(esc(err), icon=":material/error:")
