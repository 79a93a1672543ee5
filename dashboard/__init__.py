"""The lab's Streamlit dashboard: reads the zarr store only (no torch, no models).

Run it from the repository root with ``streamlit run dashboard`` (entry point
``dashboard/streamlit_app.py``). Modules are named after the page they serve:

- ``pages_registry.py``: the page list (``PAGES``), a plain importable constant;
- ``app_pages/<page>.py``: one script per page, reading like a description of the UI;
- ``<page>_data.py``: that page's cached loaders; ``<page>_charts.py``: its pure chart
  builders (no ``st.*``);
- ``data.py``: store access every page shares (cached handles, labelled reads, run
  listing, the run's analysis-step record); ``charts.py``: shared chart helpers (token
  display, colour scales, findings as escaped HTML); ``text.py``: the one way a page shows
  a string it did not write (tokens, prompts, run ids, paths) in markdown or HTML, as
  typed; ``widgets.py``: the sidebar,
  the page opening (with the run's stored findings) and the "this run lacks X" message, and
  the URL links (``widgets.link``: run, layer, head, prompt, ... in ``st.query_params``);
- ``app_pages/notebook.py``: the user's notes and predictions per run, kept as files in
  ``<store_root>/notebook/`` (never inside a run).

Pages hold no analysis knowledge: what a page needs to know about a run (rung order,
which scores are fractions, the phase rule, patching axes, which steps ran) comes from
the run's attrs and the store schema.
"""
