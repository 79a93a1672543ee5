"""Embeddings: PCA and t-SNE maps of the token embedding (W_E) and unembedding (W_U)."""

import streamlit as st

from dashboard import data, widgets
from dashboard import embeddings_charts as charts
from dashboard import embeddings_data as ed
from dashboard.text import escape_markdown as esc
from dashboard.text import inline_code

root, run_id = widgets.open_page(
    "Embeddings",
    "Each dot is one of the most frequent tokens, placed by its vector in W_E (what the "
    "model reads) or W_U (what it writes). PCA keeps global directions (axes ranked by "
    "explained variance); t-SNE keeps neighbourhoods (distances between clusters mean "
    "little). Colour is the token's category; hover a dot to see the token, search to ring "
    "it in red.",
    needs=widgets.Needs("embeddings", "embeddings/pca", "embedding maps"))

has_tsne = data.has_array(root, run_id, "embeddings/tsne")
c_method, c_matrix, c_search = st.columns([1, 1, 2])
methods = ["PCA", "t-SNE"] if has_tsne else ["PCA"]
widgets.link("embeddings_method", methods, param="method")
method = c_method.segmented_control("Method", methods, key="embeddings_method") or "PCA"
matrices = ed.matrices(root, run_id)
widgets.link("embeddings_matrix", matrices, param="matrix")
matrix = (c_matrix.segmented_control("Vectors", matrices, key="embeddings_matrix", format_func=esc)
          or matrices[0])
widgets.link("embeddings_query", param="token")
query = c_search.text_input("Highlight a token", key="embeddings_query",
                            placeholder="e.g. ' the' or #42")

points = ed.embedding_points(root, run_id, "tsne" if method == "t-SNE" else "pca", matrix)
categories = sorted(points["category"].unique())
widgets.link("embeddings_cats", categories, param="category", default=categories, multi=True)
picked = st.multiselect("Categories", categories, key="embeddings_cats")
shown = points[points["category"].isin(picked)]

highlight = []
if query:
    mapped = set(points["id"])
    matches = [i for i in data.find_tokens(data.token_strs(root, run_id), query, limit=200)
               if i in mapped]
    if matches:
        highlight = matches[:5]
        st.caption("Highlighted: " + ", ".join(
            f"{inline_code(data.quoted(points.loc[points['id'] == i, 'token'].iloc[0]))} #{i}"
            for i in highlight))
    else:
        st.warning("That token is not among the mapped ones (the most frequent tokens only).",
                   icon=":material/search_off:")

variance = ed.explained_variance(root, run_id)
ratios = variance[variance["matrix"] == matrix]["ratio"].tolist()
if method == "PCA":
    titles = [f"PC{i + 1} ({ed.share_text(ratios[i])} of variance)" if i < len(ratios) else f"PC{i + 1}"
              for i in range(2)]
else:
    titles = ["t-SNE 1 (no units)", "t-SNE 2 (no units)"]
st.altair_chart(charts.embedding_scatter(shown, highlight, f"{method} of {matrix}",
                                         x_title=titles[0], y_title=titles[1],
                                         ticks=method == "PCA"),
                width="stretch", height=560)
counts = points["category"].value_counts()
st.caption(f"{len(points)} tokens mapped: " + ", ".join(f"{esc(c)} {n}" for c, n in counts.items()))

if method == "PCA":
    st.markdown("**Explained variance per principal component**")
    st.altair_chart(charts.variance_bars(variance), width="stretch")
    top2 = variance[variance["matrix"] == matrix].head(2)["ratio"].sum()
    st.caption(f"The two plotted components explain {ed.share_text(top2)} of the variance of {esc(matrix)}.")
else:
    tsne = ed.tsne_settings(root, run_id)
    st.caption(f"t-SNE: perplexity {esc(tsne.get('perplexity'))}, {esc(tsne.get('max_iter'))} "
               f"iterations, after PCA to {esc(tsne.get('pca_dims'))} dims, seed "
               f"{esc(tsne.get('seed'))}.")
