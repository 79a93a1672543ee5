"""The dashboard's pages, in docs/design.md's order: a plain constant that imports nothing.

``streamlit_app.py`` builds ``st.navigation`` from :data:`PAGES`; tests import it to visit
every page (importing ``streamlit_app`` itself would run the app). A new page is one more
line here plus ``dashboard/app_pages/<page>.py`` and its ``<page>_data.py`` /
``<page>_charts.py``.

Example:
    >>> from dashboard.pages_registry import PAGES
    >>> PAGES[0].script, PAGES[0].title
    ('app_pages/overview.py', 'Overview')
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Page", "PAGES", "page_of_step"]


class Page(NamedTuple):
    """One entry of the navigation."""

    script: str
    """Page script, relative to ``dashboard/`` (what ``st.Page`` and ``switch_page`` take)."""
    title: str
    """Title in the navigation."""
    icon: str
    """Material icon shown next to the title."""
    steps: tuple[str, ...] = ()
    """Analysis steps whose stored findings the page opens with (keys of the run attrs
    ``steps`` and ``findings``); the Overview links each step's findings to this page."""

    @property
    def name(self) -> str:
        """The page's name, shared by its script and modules (``app_pages/heads.py``: heads)."""
        return self.script.rsplit("/", 1)[-1].removesuffix(".py")


PAGES: tuple[Page, ...] = (
    Page("app_pages/overview.py", "Overview", ":material/table_chart:", ("training",)),
    Page("app_pages/xor.py", "XOR", ":material/join_inner:", ("xor",)),
    Page("app_pages/bigrams.py", "Bigrams", ":material/format_list_numbered:", ("bigrams",)),
    Page("app_pages/embeddings.py", "Embeddings", ":material/bubble_chart:", ("embeddings",)),
    Page("app_pages/attention.py", "Attention", ":material/grid_on:", ("patterns", "prompts")),
    Page("app_pages/heads.py", "Heads", ":material/view_module:", ("heads",)),
    Page("app_pages/circuits.py", "Circuits", ":material/hub:", ("circuits",)),
    Page("app_pages/attribution.py", "Attribution", ":material/bar_chart:", ("attribution",)),
    Page("app_pages/patching.py", "Patching", ":material/healing:", ("patching",)),
    Page("app_pages/training_dynamics.py", "Training dynamics", ":material/timeline:",
         ("dynamics",)),
    Page("app_pages/neurons.py", "Neurons", ":material/scatter_plot:", ("neurons",)),
    Page("app_pages/probes.py", "Probes", ":material/troubleshoot:", ("probes",)),
    Page("app_pages/features.py", "Features", ":material/auto_awesome:", ("sae",)),
    Page("app_pages/steering.py", "Steering", ":material/alt_route:", ("steering",)),
    Page("app_pages/finetune.py", "Fine-tuning", ":material/tune:", ("finetune",)),
    Page("app_pages/glassbox.py", "Glass box", ":material/biotech:", ("glassbox",)),
    Page("app_pages/ioi.py", "IOI", ":material/record_voice_over:", ("ioi",)),
    Page("app_pages/notebook.py", "Notebook", ":material/edit_note:"),
)
"""Every page of the app: the XOR rung first (the ladder starts there), then docs/design.md's page order, then the lab notebook."""


def page_of_step(step: str) -> Page | None:
    """The page that shows what analysis step ``step`` wrote (None when no page does)."""
    return next((p for p in PAGES if step in p.steps), None)
