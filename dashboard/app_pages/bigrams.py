"""Bigrams: what the direct path W_E -> W_U predicts after a token, next to the corpus truth."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts_circuits, data, widgets
from dashboard import data_circuits as dc

root, run_id = widgets.selected_run()
st.title("Bigrams")
st.caption(
    "The direct path of the model (token embedding straight to the unembedding, "
    "final LayerNorm applied, no positions) is a table of next-token logits. "
    "**What follows** a token is its row (softmax gives probabilities); **what predicts** "
    "it ranks earlier tokens s by P(token | s). For a 0-layer model this is the whole "
    "model. The corpus columns are the true bigram frequencies of the training data."
)

if not dc.has(root, run_id, "bigrams/token"):
    widgets.missing_data(
        f"Run **{run_id}** has no bigram tables: run the analysis job "
        "(`python -m jobs analyze ...`) on it.",
        alternatives=[r for r in data.list_runs(root) if dc.has(root, r, "bigrams/token")],
    )

summary = dc.bigram_summary(root, run_id)
lists = dc.bigram_lists(root, run_id)
strs = data.token_strs(root, run_id)
rows = {int(t): i for i, t in enumerate(lists["token"])}
has_corpus = bool(summary.get("corpus"))
on_the_fly = dc.has(root, run_id, "weights/W_E") and dc.has(root, run_id, "bigrams/row_lse")

if has_corpus:
    c1, c2, c3 = st.columns(3)
    top500 = summary.get("top1_agreement_top500")
    c1.metric(
        "Top-1 agreement, 500 most frequent",
        "n/a" if top500 is None else f"{top500:.0%}",
        help="Share of tokens whose most likely next token under the model is the corpus's.",
    )
    c2.metric(
        f"Top-1 agreement, {summary['n_tokens']} most frequent",
        f"{summary.get('top1_agreement') or 0:.0%}",
    )
    c3.metric(
        "Mean KL(corpus || model)",
        f"{summary.get('mean_kl') or 0:.3f} nats",
        help="Per-token KL of the next-token distributions, averaged over tokens.",
    )
else:
    st.info(
        summary.get("corpus_note", "This run has no corpus statistics."), icon=":material/info:"
    )

q_col, k_col = st.columns([3, 1])
query = q_col.text_input(
    "Find a token",
    key="bigrams_query",
    placeholder="type a token such as ' the', or #id",
    help="Exact matches first, then tokens containing the text.",
)
k = k_col.slider("List length", 3, 30, 10, key="bigrams_k")
candidates = dc.find_tokens(strs, query) if query else [int(t) for t in lists["token"][:200]]
if not candidates:
    st.warning("No token matches; showing the most frequent ones.", icon=":material/search_off:")
    candidates = [int(t) for t in lists["token"][:200]]
token = st.selectbox(
    "Token", candidates, key="bigrams_token", format_func=lambda i: f"{dc.quoted(strs[i])}  #{i}"
)
row = rows.get(int(token))


def stored(prefix: str, kind: str) -> pd.DataFrame:
    """A stored top-k list of this token's row (kind: follow or predict)."""
    ids = lists[f"{prefix}{kind}_id"][row][:k]
    probs = lists[f"{prefix}{kind}_prob"][row][:k]
    keep = ids >= 0
    return pd.DataFrame(
        {"id": ids[keep], "token": [strs[i] for i in ids[keep]], "prob": probs[keep]}
    )


left, right = st.columns(2)
for col, kind, title in ((left, "follow", "What follows"), (right, "predict", "What predicts")):
    with col:
        st.subheader(title)
        if on_the_fly:
            model = (dc.bigram_follow if kind == "follow" else dc.bigram_predict)(
                root, run_id, int(token), k
            )
        elif row is not None:
            model = stored("", kind)
        else:
            st.info("Not stored for this token and the run has no weights.", icon=":material/info:")
            continue
        st.altair_chart(charts_circuits.prob_bars(model, "model"), width="stretch")
        if has_corpus and row is not None and f"corpus_{kind}_id" in lists:
            st.altair_chart(
                charts_circuits.prob_bars(stored("corpus_", kind), "corpus"), width="stretch"
            )
        elif has_corpus:
            st.caption(
                f"Corpus statistics are stored for the {summary['n_tokens']} most "
                "frequent tokens only."
            )
st.caption(
    "What predicts: P(token | s) for each earlier token s (corpus: predecessors seen at "
    "least 10 times), so rare predecessors that are always followed by it rank high."
)

if has_corpus and "corpus_follow_id" in lists:
    st.subheader("Agreement, token by token")
    model_top, corpus_top = lists["follow_id"][:, 0], lists["corpus_follow_id"][:, 0]
    table = pd.DataFrame(
        {
            "token": [dc.quoted(strs[int(t)]) for t in lists["token"]],
            "count": lists["token_count"],
            "model top-1": [dc.quoted(strs[int(i)]) for i in model_top],
            "corpus top-1": [dc.quoted(strs[int(i)]) if i >= 0 else "" for i in corpus_top],
            "agree": model_top == corpus_top,
            "KL (nats)": lists["kl"],
        }
    )
    only = st.toggle("Only disagreements", key="bigrams_disagree")
    shown = table[~table["agree"]] if only else table
    st.dataframe(shown.head(500), hide_index=True, height=320)
    st.caption(
        f"{int(np.sum(table['agree']))} of {len(table)} most frequent tokens agree; "
        f"corpus: {summary.get('corpus_tokens_used', 0):,} training tokens."
    )
