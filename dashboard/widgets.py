"""Shared sidebar widgets and page helpers: store root, run picker, "this run lacks X".

Session-state keys shared by every page (set by ``streamlit_app.py``):

- ``store_root``: the store directory (str), from INTERP_STORE or ``./lab-store``;
- ``run_id``: the run picked in the sidebar.

Pages read them with :func:`selected_run`; page-specific keys carry the page's prefix
(``attention_layer``, ``overview_log_x``, ...).

Example (in a page script):
    >>> root, run_id = widgets.selected_run()
"""

from __future__ import annotations

import streamlit as st

from dashboard import data

__all__ = ["store_root_input", "run_picker", "selected_run", "missing_data", "run_caption"]


def store_root_input() -> str:
    """Sidebar text input for the store root (session key ``store_root``); returns it."""
    if not st.session_state.get("store_root"):
        st.session_state["store_root"] = data.default_store_root()
    st.sidebar.text_input("Store root", key="store_root",
                          help="Directory holding <run_id>.zarr runs "
                               "(INTERP_STORE sets the default).")
    return str(st.session_state["store_root"]).strip()


def _default_run(root: str, runs: list[str]) -> str:
    """The first run with attention layers (the most to look at), else the first run."""
    with_layers = [r for r in runs if data.n_layers(root, r) > 0]
    return (with_layers or runs)[0]


def _run_label(root: str, run_id: str) -> str:
    n_params = data.run_attrs(root, run_id).get("n_params")
    return f"{run_id}  ·  {n_params / 1e3:,.0f}k params" if n_params else run_id


def run_picker(root: str, runs: list[str], *, key: str = "run_id", label: str = "Run") -> str:
    """Sidebar select box over ``runs`` kept in ``st.session_state[key]``; returns the run id.

    A stale value (a run that disappeared, another store) is replaced by a sensible default.
    """
    if st.session_state.get(key) not in runs:
        st.session_state[key] = _default_run(root, runs)
    return st.sidebar.selectbox(label, runs, key=key, format_func=lambda r: _run_label(root, r),
                                help="Shared by every page.")


def selected_run() -> tuple[str, str]:
    """(store root, run id) picked in the sidebar."""
    return str(st.session_state["store_root"]).strip(), str(st.session_state["run_id"])


def run_caption(root: str, run_id: str) -> str:
    """One line describing a run's model: layers, heads, d_model, MLP or attention-only."""
    cfg = data.run_attrs(root, run_id).get("config") or {}
    n_layers = int(cfg.get("n_layers") or 0)
    parts = [f"**{run_id}**", f"{n_layers} layer{'s' if n_layers != 1 else ''}"]
    if n_layers:
        parts.append(f"{cfg.get('n_heads')} heads/layer")
    parts.append(f"d_model {cfg.get('d_model')}")
    if n_layers:
        parts.append("attention-only" if cfg.get("d_mlp") is None else f"MLP {cfg.get('d_mlp')}")
    parts.append(f"vocab {cfg.get('d_vocab')}")
    return " · ".join(parts)


def missing_data(message: str, *, alternatives: list[str] | None = None,
                 key: str = "run_id") -> None:
    """Show why this page has nothing for the run, offer runs that have it, and stop the page."""
    st.info(message, icon=":material/info:")
    if alternatives:
        st.caption("Runs that have it:")
        cols = st.columns(min(len(alternatives), 4))
        for i, run_id in enumerate(alternatives):
            cols[i % len(cols)].button(run_id, key=f"switch_run_{run_id}",
                                       on_click=st.session_state.__setitem__, args=(key, run_id))
    st.stop()
