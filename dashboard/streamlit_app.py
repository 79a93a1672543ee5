"""Entry point of the lab's dashboard: page config, shared sidebar, navigation.

Run from the repository root:
    streamlit run dashboard                 # same as: streamlit run dashboard/streamlit_app.py
    INTERP_STORE=/data/store streamlit run dashboard

The sidebar holds the store root (session key ``store_root``) and the run picker shared by
every page (``run_id``, in the URL as ``?run=``). The widgets a page links
(``widgets.link``) are written to the URL after the page ran, so every view can be
bookmarked. The favicon is a local file (``static/favicon.png``): nothing is fetched. Pages live in ``dashboard/app_pages/``; registering one is one line
in ``dashboard/pages_registry.PAGES``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard` puts dashboard/ (not the repository root) on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from dashboard import data, widgets  # noqa: E402
from dashboard.pages_registry import PAGES  # noqa: E402
from dashboard.text import escape_markdown as esc  # noqa: E402


# The tab icon, served from this folder (a material icon name is fetched from a CDN). A
# comment, not a docstring: Streamlit's magic would print a bare string in the app.
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.png"


def main() -> None:
    """Build the sidebar, check the store, then run the selected page."""
    st.set_page_config(layout="wide", page_title="Interpretability lab",
                       page_icon=str(FAVICON) if FAVICON.is_file() else None)
    widgets.start_links()
    page = st.navigation([st.Page(p.script, title=p.title, icon=p.icon) for p in PAGES])
    st.sidebar.caption("Interpretability lab")
    root = widgets.store_root_input()
    try:
        runs = data.list_runs(root)
    except data.StoreError as err:
        st.error(f"Cannot open the store: {esc(err)}", icon=":material/error:")
        st.markdown("Build the demo store (a few minutes on a laptop) with:")
        st.code(data.build_hint(root or data.DEFAULT_STORE_ROOT), language="bash")
        st.caption("or type another store root in the sidebar.")
        st.stop()
    if not runs:
        damaged = data.damaged_runs(root)
        if damaged:
            st.error("Every run in this store is damaged: "
                     + "; ".join(f"{esc(r)}: {esc(why)}"
                                 for r, why in damaged.items()), icon=":material/report:")
        st.warning(f"The store at {esc(root)} has no complete runs yet: a job may still be "
                   "writing them. Build or finish them with:", icon=":material/hourglass:")
        st.code(data.build_hint(root), language="bash")
        st.stop()
    widgets.run_picker(root, runs)
    if st.sidebar.button("Reload store", icon=":material/refresh:",
                         help="Forget cached data and list the runs again."):
        data.clear_caches()
        st.rerun()
    try:
        page.run()
    except data.StoreError as err:  # e.g. a corrupt chunk: say what is wrong, not a traceback
        st.error(esc(err), icon=":material/error:")
    finally:  # also after st.stop(): the URL names what the page shows
        widgets.write_links()


main()
