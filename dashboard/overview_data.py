"""Loaders for the Overview page: the ladder table and the loss curves of every run.

Follows ``dashboard/data.py``'s conventions (hashable arguments, pandas results, cached).

Example:
    >>> from dashboard import overview_data
    >>> overview_data.ladder_table("lab-store")["run"].tolist()
    ['bigram-0l', 'attn-only-1l', 'attn-only-2l', 'gpt-4l']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["LADDER_COLUMNS", "data_mix_text", "ladder_table", "training_curves"]

LADDER_COLUMNS = ["run", "rung", "n_params", "tokens_seen", "val_loss", "perplexity",
                  "wall_time_s", "device", "precision", "corpus", "repeat_fraction", "n_layers",
                  "repeat_source"]
"""Columns of :func:`ladder_table`."""


@st.cache_data(ttl=10, show_spinner=False)
def ladder_table(root: str) -> pd.DataFrame:
    """One row per complete run, in ladder order: the training summary the Overview shows.

    Columns: :data:`LADDER_COLUMNS`.
    """
    rows = []
    for run_id in data.list_runs(root):
        attrs = data.run_attrs(root, run_id)
        train = attrs.get("training") or {}
        cfg = attrs.get("config") or {}
        val_loss = train.get("val_loss")
        ppl = train.get("perplexity")
        if ppl is None and val_loss is not None:
            ppl = float(np.exp(val_loss))
        rows.append({
            "run": run_id,
            "rung": attrs.get("rung") or train.get("rung") or "",
            "n_params": attrs.get("n_params") or train.get("n_params"),
            "tokens_seen": train.get("tokens_seen"),
            "val_loss": val_loss,
            "perplexity": ppl,
            "wall_time_s": train.get("wall_time_s"),
            "device": "" if train.get("device") is None else str(train.get("device")),
            "precision": train.get("precision") or "",
            "corpus": (train.get("data") or {}).get("corpus") or "",
            "repeat_fraction": float(train.get("repeat_fraction") or 0.0),
            "n_layers": int(cfg.get("n_layers") or 0),
            "repeat_source": train.get("repeat_source") or "",
        })
    table = pd.DataFrame(rows, columns=LADDER_COLUMNS)
    for col in ("n_params", "tokens_seen"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    for col in ("val_loss", "perplexity", "wall_time_s"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    return table


def data_mix_text(repeat_fraction: float, repeat_source: str, corpus: str) -> str:
    """Which part of a run's training data is synthetic, in one sentence.

    ``repeat_source`` "random": the repeated span is random frequent tokens (synthetic);
    anything else (older runs record none): the span copies the sequence's own text.
    """
    text = f"{corpus} text" if corpus else "natural text"
    if repeat_fraction <= 0:
        return f"All training sequences are {text} (no synthetic repeats)."
    if repeat_source == "random":
        return (f"{repeat_fraction:.0%} of training sequences repeat a span of random frequent "
                f"tokens (synthetic); the rest of the tokens is {text}.")
    return (f"{repeat_fraction:.0%} of training sequences repeat an earlier span of their own "
            f"text (a synthetic copy); the rest of the tokens is {text}.")


def _curve(root: str, run_id: str, step: str, tokens: str, value: str, column: str
           ) -> pd.DataFrame | None:  # fmt: skip
    names = set(data.run_arrays(root, run_id))
    if not {tokens, value} <= names:
        return None
    seen = data.read_array(root, run_id, tokens)
    return pd.DataFrame({
        "run": run_id,
        "step": data.read_array(root, run_id, step) if step in names else np.arange(len(seen)),
        "tokens_seen": seen,
        column: data.read_array(root, run_id, value).astype(float),
    })


@st.cache_data(ttl=10, show_spinner=False)
def training_curves(root: str, run_ids: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-form loss curves of several runs.

    Returns:
        (train, val): ``train`` has columns run, step, tokens_seen, loss; ``val`` has run,
        step, tokens_seen, val_loss. Runs without training arrays contribute no rows.
    """
    train = [_curve(root, r, "training/step", "training/tokens_seen", "training/loss", "loss")
             for r in run_ids]
    val = [_curve(root, r, "training/eval_step", "training/eval_tokens_seen",
                  "training/val_loss", "val_loss") for r in run_ids]
    train, val = [t for t in train if t is not None], [v for v in val if v is not None]
    return (pd.concat(train, ignore_index=True) if train
            else pd.DataFrame(columns=["run", "step", "tokens_seen", "loss"]),
            pd.concat(val, ignore_index=True) if val
            else pd.DataFrame(columns=["run", "step", "tokens_seen", "val_loss"]))
