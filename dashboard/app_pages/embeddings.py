"""Embeddings: PCA and t-SNE maps of the token embedding (W_E) and unembedding (W_U)."""

import streamlit as st

from dashboard import charts_circuits, data, widgets
from dashboard import data_circuits as dc

root, run_id = widgets.selected_run()
st.title("Embeddings")
st.caption(
    "Each dot is one of the most frequent tokens, placed by its vector in W_E (what the "
    "model reads) or W_U (what it writes). PCA keeps global directions (axes ranked by "
    "explained variance); t-SNE keeps neighbourhoods (distances between clusters mean "
    "little). Colour is the token's category; hover a dot to see the token, search to "
    "ring it in red."
)

if not dc.has(root, run_id, "embeddings/pca"):
    widgets.missing_data(
        f"Run **{run_id}** has no embedding maps: run the analysis job "
        "(`python -m jobs analyze ...`) on it.",
        alternatives=[r for r in data.list_runs(root) if dc.has(root, r, "embeddings/pca")],
    )

has_tsne = dc.has(root, run_id, "embeddings/tsne")
c_method, c_matrix, c_search = st.columns([1, 1, 2])
method = (
    c_method.segmented_control(
        "Method", ["PCA", "t-SNE"] if has_tsne else ["PCA"], default="PCA", key="embeddings_method"
    )
    or "PCA"
)
matrices = [str(m) for m in data.read_array(root, run_id, "embeddings/matrix")]
matrix = (
    c_matrix.segmented_control("Vectors", matrices, default=matrices[0], key="embeddings_matrix")
    or matrices[0]
)
query = c_search.text_input(
    "Highlight a token", key="embeddings_query", placeholder="e.g. ' the' or #42"
)

points = dc.embedding_points(
    root, run_id, "tsne" if method == "t-SNE" else "pca", matrices.index(matrix)
)
categories = sorted(points["category"].unique())
picked = st.multiselect("Categories", categories, default=categories, key="embeddings_cats")
shown = points[points["category"].isin(picked)]

highlight = []
if query:
    matches = [
        i
        for i in dc.find_tokens(data.token_strs(root, run_id), query, limit=200)
        if i in set(points["id"])
    ]
    if matches:
        highlight = matches[:5]
        st.caption(
            "Highlighted: "
            + ", ".join(
                f"`{dc.quoted(points.loc[points['id'] == i, 'token'].iloc[0])}` #{i}"
                for i in highlight
            )
        )
    else:
        st.warning(
            "That token is not among the mapped ones (the most frequent tokens only).",
            icon=":material/search_off:",
        )

st.altair_chart(
    charts_circuits.embedding_scatter(shown, highlight, f"{method} of {matrix}"),
    width="stretch",
    height=560,
)
counts = points["category"].value_counts()
st.caption(f"{len(points)} tokens mapped: " + ", ".join(f"{c} {n}" for c, n in counts.items()))

if method == "PCA":
    variance = dc.explained_variance(root, run_id)
    st.altair_chart(charts_circuits.variance_bars(variance), width="stretch")
    top2 = variance[variance["matrix"] == matrix].head(2)["ratio"].sum()
    st.caption(f"The two plotted components explain {top2:.0%} of the variance of {matrix}.")
else:
    attrs = data.open_run(root, run_id).read("embeddings/tsne", emb_token=slice(0, 1)).attrs
    st.caption(
        f"t-SNE: perplexity {attrs.get('perplexity')}, {attrs.get('max_iter')} "
        f"iterations, after PCA to {attrs.get('pca_dims')} dims, seed {attrs.get('seed')}."
    )
