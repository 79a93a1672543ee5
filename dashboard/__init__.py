"""The lab's Streamlit dashboard: reads the zarr store only (no torch, no models).

Run it from the repository root with ``streamlit run dashboard`` (entry point
``dashboard/streamlit_app.py``). Loaders live in ``dashboard.data`` (cached), chart builders
in ``dashboard.charts`` (pure), shared widgets in ``dashboard.widgets``, one script per page
in ``dashboard/app_pages/``.
"""
