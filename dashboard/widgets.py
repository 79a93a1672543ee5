"""Shared widgets: store root, run picker, the page opening, and "this run lacks X".

Session-state keys shared by every page (set by ``streamlit_app.py``):

- ``store_root``: the store directory (str), from INTERP_STORE or ``./lab-store``;
- ``run_id``: the run picked in the sidebar.

Page-specific keys carry the page's prefix (``attention_layer``, ``overview_log_x``, ...).

**Links.** The run, and each page widget that says what is shown (layer, head, prompt,
position, granularity, toggles), live in the URL so a view can be bookmarked and shared:
call :func:`link` just before the widget (it seeds the session key from ``?param=`` on a
fresh view, drops values that do not fit this run, sets the default) and do not pass the
widget a ``value``/``index``; ``streamlit_app.py`` writes every linked key back to
``st.query_params`` after the page ran (:func:`write_links`).

Every page opens with :func:`open_page`: title, one caption saying what it shows and how
to read it, the picked run's model in a line, the findings its analysis step wrote into
the run (shown as text, never parsed as markdown), and, when the run lacks what the page
shows, a message saying why (from the run's ``steps`` record: the step did not run, or
it was skipped and why) with the command that computes it and the runs that have it.

Example (in a page script):
    >>> root, run_id = widgets.open_page(
    ...     "Bigrams", "What the direct path predicts.",
    ...     needs=widgets.Needs("bigrams", "bigrams/token", "bigram tables"))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import streamlit as st

from dashboard import charts, data
from dashboard.text import escape_markdown as esc

__all__ = ["Needs", "store_root_input", "run_picker", "selected_run", "run_caption",
           "open_page", "show_findings", "has_needed", "runs_with", "lacks", "require",
           "missing_data", "keep_valid", "link", "start_links", "write_links"]

_LINKS = "_url_links"
"""Session key: URL parameter -> session key, for the widgets linked in this script run."""
_UNSET = object()


@dataclasses.dataclass(frozen=True)
class Needs:
    """What a page needs from a run, and how to say that a run lacks it."""

    step: str
    """Analysis step that writes it: a key of the run's ``steps`` attr (``"bigrams"``)."""
    array: str
    """Array whose presence means the run has it; a name ending in "/" means any array of
    that group (``"patching/"``)."""
    what: str
    """Noun phrase for the message: "Run X has no <what>"."""
    why: str = ""
    """When it applies at all, for runs that record no steps ("it needs attention layers")."""


def store_root_input() -> str:
    """Sidebar text input for the store root (session key ``store_root``); returns it."""
    if not st.session_state.get("store_root"):
        st.session_state["store_root"] = data.default_store_root()
    st.sidebar.text_input("Store root", key="store_root",
                          help="Directory or fsspec URL (s3://bucket/lab-store) holding "
                               "<run_id>.zarr runs (INTERP_STORE sets the default).")
    root = str(st.session_state["store_root"]).strip()
    problem = _path_problem(root)
    if problem:
        st.error(f"Store root: {problem}; type a shorter path in the sidebar.", icon=":material/error:")
        st.stop()
    return root


_PATH_MAX, _NAME_MAX = 4096, 255
"""Linux's limits on a whole path and on one of its names (longer ones fail with ENAMETOOLONG)."""


def _path_problem(root: str) -> str:
    """Why ``root`` cannot name a directory at all (too long), or "" when it might."""
    if len(root) > _PATH_MAX:
        return f"the path is {len(root):,} characters long, more than the {_PATH_MAX:,} a path may have"
    longest = max((len(part) for part in root.split("/")), default=0)
    if longest > _NAME_MAX:
        return (f"one folder name in it is {longest:,} characters long, more than the "
                f"{_NAME_MAX} a name may have")
    return ""


# --------------------------------------------------------------------------- links
def _encode(value: Any) -> str:
    """A value as it appears in the URL: booleans as 1/0, everything else as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _decode(raw: str, options: Sequence | None) -> Any:
    """The option whose URL form is ``raw`` (``_UNSET`` when none); free text when no options."""
    if options is None:
        return raw
    for option in options:
        if _encode(option) == raw:
            return option
    return _UNSET


def _valid(value: Any, options: Sequence | None, multi: bool) -> bool:
    if options is None:
        return True
    if multi:
        return isinstance(value, list) and all(v in list(options) for v in value)
    return value in list(options)


def start_links() -> None:
    """Forget the links of the previous script run (called first by ``streamlit_app.py``)."""
    st.session_state[_LINKS] = {}


def _url_form(value: Any) -> list[str]:
    """The URL values of a session value ([] for nothing to write: None, "", [])."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return [] if value == "" else [_encode(value)]


def _set_param(param: str, value: Any) -> None:
    wanted = _url_form(value)
    current = st.query_params.get_all(param) if param in st.query_params else []
    if wanted == current:
        return
    if wanted:
        st.query_params[param] = wanted if len(wanted) > 1 else wanted[0]
    else:
        del st.query_params[param]


def link(key: str, options: Sequence | None = None, *, param: str | None = None,
         default: Any = _UNSET, multi: bool = False) -> None:
    """Keep the widget ``key`` in the URL as ``?param=``; call it just before the widget.

    On a fresh view (the session has no value for ``key``) the value comes from the URL when
    it is one of ``options``, else ``default``. A stored value that is not one of
    ``options`` (another run was picked) is dropped first. The value is written to the URL
    at once (a page may ``st.stop()`` below), and again by :func:`write_links`. Give the
    widget no ``value`` or ``index`` of its own: the default set here is its starting value.

    Args:
        key: Session key of the widget (``attention_layer``).
        options: The values the widget can take for this run, in the widget's order
            (None: any text).
        param: URL parameter name (default: the key without its page prefix, ``layer``).
        default: Starting value when the URL has none (omit: the first option; nothing
            for a multiselect; "" for text).
        multi: The widget holds a list (multiselect); the URL repeats the parameter.

    Examples:
        >>> widgets.link("attention_layer", range(n_layers), param="layer")
        >>> layer = st.selectbox("Layer", range(n_layers), key="attention_layer")
    """
    param = param or key.split("_", 1)[-1]
    st.session_state.setdefault(_LINKS, {})[param] = key
    if key in st.session_state and not _valid(st.session_state[key], options, multi):
        del st.session_state[key]
    if key not in st.session_state:
        value = _UNSET
        raws = st.query_params.get_all(param) if param in st.query_params else []
        if multi and raws:
            decoded = [_decode(r, options) for r in raws if r != ""]
            if all(v is not _UNSET for v in decoded):
                value = decoded
        elif raws:
            value = _decode(raws[-1], options)
        if value is _UNSET:
            value = default
        if value is _UNSET or not _valid(value, options, multi):
            value = [] if multi else ("" if options is None else
                                      next(iter(options), None))
        if value is not None:
            st.session_state[key] = value
    _set_param(param, st.session_state.get(key))


def write_links() -> None:
    """Write every key linked in this script run to ``st.query_params`` and drop the
    parameters no widget of this run links (left from another page)."""
    links = st.session_state.get(_LINKS) or {}
    for param, key in links.items():
        if key in st.session_state:
            _set_param(param, st.session_state[key])
    for param in [p for p in st.query_params if p not in links]:
        del st.query_params[param]


# --------------------------------------------------------------------------- sidebar
def _default_run(root: str, runs: list[str]) -> str:
    """The deepest complete run (most transformer blocks): the most to look at."""
    return data.deepest_run(root, runs)


def _run_label(root: str, run_id: str) -> str:
    n_params = data.run_attrs(root, run_id).get("n_params")
    if not n_params:
        return run_id
    if n_params < 10_000:
        size = f"{n_params:,} params"
    elif n_params < 10_000_000:
        size = f"{n_params / 1e3:,.0f}k params"
    else:
        size = f"{n_params / 1e6:,.1f}M params"
    return f"{run_id}  ·  {size}"


def run_picker(root: str, runs: list[str], *, key: str = "run_id", label: str = "Run") -> str:
    """Sidebar select box over ``runs`` kept in ``st.session_state[key]`` and in the URL
    (``?run=``); returns the run id.

    A stale value (a run that disappeared, another store) is replaced by the deepest run.
    """
    link(key, runs, param="run", default=_default_run(root, runs))
    return st.sidebar.selectbox(label, runs, key=key, format_func=lambda r: _run_label(root, r),
                                help="Shared by every page.")


def selected_run() -> tuple[str, str]:
    """(store root, run id) picked in the sidebar."""
    return str(st.session_state["store_root"]).strip(), str(st.session_state["run_id"])


def run_caption(root: str, run_id: str) -> str:
    """One line describing a run's model: layers, heads, d_model, MLP or attention-only."""
    cfg = data.run_attrs(root, run_id).get("config") or {}
    if cfg.get("kind") == "xor-mlp":
        return (f"**{esc(run_id)}** · XOR MLP: 2 inputs, {esc(cfg.get('d_hidden'))} "
                f"{esc(cfg.get('act_fn'))} hidden units, 1 output")
    n_layers = int(cfg.get("n_layers") or 0)
    parts = [f"**{esc(run_id)}**", f"{n_layers} layer{'s' if n_layers != 1 else ''}"]
    if n_layers:
        parts.append(f"{esc(cfg.get('n_heads'))} heads/layer")
    parts.append(f"d_model {esc(cfg.get('d_model'))}")
    if n_layers:
        parts.append("attention-only" if cfg.get("d_mlp") is None
                     else f"MLP {esc(cfg.get('d_mlp'))}")
    parts.append(f"vocab {esc(cfg.get('d_vocab'))}")
    return " · ".join(parts)


def has_needed(root: str, run_id: str, needs: Needs) -> bool:
    """True when the run holds what ``needs`` asks for."""
    if needs.array.endswith("/"):
        return data.has_group(root, run_id, needs.array)
    return data.has_array(root, run_id, needs.array)


def runs_with(root: str, needs: Needs) -> list[str]:
    """Complete runs of the store that hold what ``needs`` asks for, in ladder order."""
    return [r for r in data.list_runs(root) if has_needed(root, r, needs)]


def lacks(root: str, run_id: str, needs: Needs) -> tuple[str, str | None]:
    """Why the run lacks what ``needs`` asks for, and the command that computes it (or None).

    Decided from the run's ``steps`` record: skipped (its reason, no command), ran without
    writing it, or did not run (the command). Runs that record no steps fall back to the
    arrays they hold, and the message says when it applies (``needs.why``).
    """
    head = f"Run **{esc(run_id)}** has no {needs.what}"
    why = f" ({needs.why})" if needs.why else ""
    step = f"`{needs.step}` analysis step"
    record = data.step_record(root, run_id, needs.step)
    if record is not None and record.get("status") == "skipped":
        reason = esc(str(record.get("reason") or "no reason recorded").rstrip("."))
        return f"{head}: the {step} skipped it, because {reason}.", None
    if record is not None:
        return f"{head}: the {step} ran but wrote none{why}.", None
    command = data.analyze_command(root, run_id, needs.step)
    if data.steps_recorded(root, run_id):
        return f"{head}: the {step} did not run on it{why}. Run it with:", command
    return f"{head}{why}. To compute it, run the {step} on it:", command


def missing_data(message: str, *, alternatives: list[str] | None = None,
                 command: str | None = None, key: str = "run_id", stop: bool = True) -> None:
    """Say why this page has nothing for the run, offer runs that have it, and stop the page.

    Args:
        message: What is missing and why (markdown: escape stored text in it with
            ``dashboard.text.escape_markdown``).
        alternatives: Runs that have it, offered as buttons that switch the run picker.
        command: A shell command that computes it, shown under the message.
        key: Session key of the run picker the buttons set.
        stop: Stop the page script after the message (False: carry on below it).
    """
    st.info(message, icon=":material/info:")
    if command:
        st.code(command, language="bash")
    if alternatives:
        st.caption("Runs that have it:")
        cols = st.columns(min(len(alternatives), 4))
        for i, run_id in enumerate(alternatives):
            cols[i % len(cols)].button(esc(run_id), key=f"switch_run_{run_id}",
                                       on_click=st.session_state.__setitem__, args=(key, run_id))
    if stop:
        st.stop()


def require(root: str, run_id: str, needs: Needs, *, stop: bool = True) -> bool:
    """True when the run has what ``needs`` asks for; else say why (:func:`lacks`) and stop.

    With ``stop=False`` the page carries on after the message and gets False.
    """
    if has_needed(root, run_id, needs):
        return True
    message, command = lacks(root, run_id, needs)
    others = [r for r in runs_with(root, needs) if r != run_id]
    missing_data(message, alternatives=others, command=command, stop=stop)
    return False


def show_findings(root: str, run_id: str, steps: Sequence[str], *,
                  title: str | None = "What the analysis found") -> bool:
    """The findings the given analysis steps wrote into the run, as escaped text styled by
    kind (result, nothing found, caveat); nothing when there are none. True when shown."""
    items = data.step_findings(root, run_id, *steps)
    if items:
        st.html(charts.findings_html(items, title=title))
    return bool(items)


def open_page(title: str, caption: str, *, needs: Needs | None = None,
              show_run: bool = True, findings: Sequence[str] | str | None = None
              ) -> tuple[str, str]:  # fmt: skip
    """The opening every page shares: title, caption, the run's model, its step's findings,
    "this run lacks X".

    Args:
        title: Page title.
        caption: One or two sentences: what the page shows and how to read it.
        needs: What the page needs from the picked run; when the run lacks it the page
            says why (see :func:`require`) and stops.
        show_run: Show the picked run's one-line model description.
        findings: Analysis steps whose stored findings open the page (default: the step
            of ``needs``; ``()`` for none).

    Returns:
        (store root, run id) picked in the sidebar.
    """
    root, run_id = selected_run()
    st.title(title)
    st.caption(caption)
    if show_run:
        st.markdown(run_caption(root, run_id))
    if findings is None:
        findings = (needs.step,) if needs is not None else ()
    show_findings(root, run_id, (findings,) if isinstance(findings, str) else findings)
    if needs is not None:
        require(root, run_id, needs)
    return root, run_id


def keep_valid(key: str, options: list) -> None:
    """Forget a page widget's stored value when it is not valid for this run (another run)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
