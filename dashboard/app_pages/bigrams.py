"""Bigrams: what the direct path W_E -> W_U predicts after a token, next to the corpus truth."""

import numpy as np
import streamlit as st

from dashboard import bigrams_charts as charts
from dashboard import bigrams_data as bd
from dashboard import data, widgets
from dashboard.text import escape_markdown as esc

root, run_id = widgets.open_page(
    "Bigrams",
    "The direct path of the model (token embedding straight to the unembedding, final "
    "LayerNorm applied, no positions) is a table of next-token logits. **What follows** a "
    "token is its row (softmax gives probabilities); **what predicts** it ranks earlier "
    "tokens s by P(token | s). For a 0-layer model this is the whole model. The corpus "
    "columns are the true bigram frequencies of the training data.",
    needs=widgets.Needs("bigrams", "bigrams/token", "bigram tables"))

summary = bd.bigram_summary(root, run_id)
lists = bd.bigram_lists(root, run_id)
strs = data.token_strs(root, run_id)
rows = {int(t): i for i, t in enumerate(lists["token"])}
has_corpus = bool(summary.get("corpus"))
on_the_fly = bd.can_compute(root, run_id)

if has_corpus:
    c1, c2, c3 = st.columns(3)
    top500 = summary.get("top1_agreement_top500")
    c1.metric("Top-1 agreement, 500 most frequent", "n/a" if top500 is None else f"{top500:.0%}",
              help="Share of tokens whose most likely next token under the model is the corpus's.")
    c2.metric(f"Top-1 agreement, {summary['n_tokens']} most frequent",
              f"{summary.get('top1_agreement') or 0:.0%}")
    c3.metric("Mean KL(corpus || model)", f"{summary.get('mean_kl') or 0:.3f} nats",
              help="Per-token KL of the next-token distributions, averaged over tokens.")
else:
    st.info(esc(summary.get("corpus_note", "This run has no corpus statistics.")),
            icon=":material/info:")

q_col, k_col = st.columns([3, 1])
widgets.link("bigrams_query", param="token")
query = q_col.text_input("Find a token", key="bigrams_query",
                         placeholder="type a token such as ' the', or #id",
                         help="Exact matches first, then tokens containing the text.")
widgets.link("bigrams_k", range(3, 31), param="k", default=10)
k = k_col.slider("List length", 3, 30, key="bigrams_k")
frequent = [int(t) for t in lists["token"][:200]]
candidates = data.find_tokens(strs, query) if query else frequent
if not candidates:
    st.warning("No token matches; showing the most frequent ones.", icon=":material/search_off:")
    candidates = frequent
widgets.link("bigrams_token", candidates, param="id")
token = st.selectbox("Token", candidates, key="bigrams_token",
                     format_func=lambda i: f"{data.quoted(strs[i])}  #{i}")
row = rows.get(int(token))

left, right = st.columns(2)
for col, kind, title in ((left, "follow", "What follows"), (right, "predict", "What predicts")):
    with col:
        st.subheader(title)
        if on_the_fly:
            model = (bd.bigram_follow if kind == "follow" else bd.bigram_predict)(
                root, run_id, int(token), k)
        elif row is not None:
            model = bd.stored_list(root, run_id, kind, row, k)
        else:
            st.info("Not stored for this token and the run has no weights.", icon=":material/info:")
            continue
        st.altair_chart(charts.prob_bars(model, "model"), width="stretch")
        if has_corpus and row is not None and f"corpus_{kind}_id" in lists:
            corpus = bd.stored_list(root, run_id, kind, row, k, corpus=True)
            st.altair_chart(charts.prob_bars(corpus, "corpus"), width="stretch")
        elif has_corpus:
            st.caption(f"Corpus statistics are stored for the {summary['n_tokens']} most "
                       "frequent tokens only.")
st.caption("What predicts: P(token | s) for each earlier token s (corpus: predecessors seen at "
           "least 10 times), so rare predecessors that are always followed by it rank high.")

if has_corpus and "corpus_follow_id" in lists:
    st.subheader("Agreement, token by token")
    table = bd.agreement_table(root, run_id)
    widgets.link("bigrams_disagree", [False, True], param="disagree")
    only = st.toggle("Only disagreements", key="bigrams_disagree")
    shown = table[~table["agree"]] if only else table
    st.dataframe(shown.head(500), hide_index=True, height=320)
    st.caption(f"{int(np.sum(table['agree']))} of {len(table)} most frequent tokens agree; "
               f"corpus: {summary.get('corpus_tokens_used', 0):,} training tokens.")
