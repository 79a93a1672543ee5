"""Pure altair builders for the Bigrams page (no ``st.*``, no store access).

Example:
    >>> prob_bars(bigrams_data.bigram_follow(root, run_id, 42), "model").to_dict()["mark"]
    {'type': 'bar'}
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import token_bars

__all__ = ["prob_bars"]


def prob_bars(table: pd.DataFrame, title: str) -> alt.Chart:
    """Next-token (or predecessor) probabilities, one bar per token (table: id, token, prob)."""
    return token_bars(table, title, "prob")
