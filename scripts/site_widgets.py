"""Widgets of a stored notebook as static HTML, for the course website (scripts/build_site.py).

A lecture stored with its outputs keeps each widget as a reference (``application/vnd.jupyter.widget-view+json``:
a model id) and the models' last state in the notebook's metadata (``widgets`` /
``application/vnd.jupyter.widget-state+json``): slider values and ranges, dropdown choices, and the figure an
Output widget showed. Without a kernel nothing can redraw, so the website shows that state as it is: the controls
drawn disabled at their stored values, and the stored figure below them, with a line saying that the controls move
in JupyterLab. No JavaScript and nothing from outside the page is needed.

A widget whose state is not in the notebook (never saved with it) becomes a one-line note instead.
"""

from __future__ import annotations

import html
import math

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NOTE = ("Interactive in JupyterLab (<code>make lab</code>): this page shows the controls and the figure as the "
        "lecture was stored.")
MISSING = ("An interactive widget: run this notebook in JupyterLab (<code>make lab</code>) to use it; its state was "
           "not stored with the notebook, so there is nothing to show here.")

SLIDERS = {"IntSliderModel", "FloatSliderModel", "FloatLogSliderModel", "IntRangeSliderModel",
           "FloatRangeSliderModel"}
CHOICES = {"DropdownModel", "SelectModel", "RadioButtonsModel", "ToggleButtonsModel", "SelectionSliderModel"}
BOXES = {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel"}


def _ref(value: str) -> str:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else value


def _number(value, fmt: str | None) -> str:
    try:
        return format(value, fmt or ("d" if isinstance(value, int) else ".3g"))
    except (TypeError, ValueError):
        return html.escape(str(value))


def _label(state: dict) -> str:
    text = state.get("description") or ""
    return f'<span class="ck-widget-label">{html.escape(text)}</span>' if text else ""


def _slider(name: str, state: dict) -> str:
    value, low, high = state.get("value"), state.get("min", 0), state.get("max", 100)
    step = state.get("step") or "any"
    position = value
    if name == "FloatLogSliderModel":  # min and max are exponents of base; value is the value itself
        base = state.get("base", 10.0)
        position = math.log(value, base) if isinstance(value, (int, float)) and value > 0 else low
    if isinstance(value, list):  # a range slider: two handles, one bar
        shown = " – ".join(_number(v, state.get("readout_format")) for v in value)
        position = value[0]
    else:
        shown = _number(value, state.get("readout_format"))
    if isinstance(position, float):
        position = format(position, ".6g")
    return (f'<div class="ck-widget-row">{_label(state)}'
            f'<input type="range" disabled min="{low}" max="{high}" step="{step}" value="{position}" '
            f'aria-label="{html.escape(state.get("description") or "slider")}">'
            f'<span class="ck-widget-value">{shown}</span></div>')


def _choice(state: dict) -> str:
    labels = state.get("_options_labels") or []
    index = state.get("index")
    options = "".join(f'<option{" selected" if i == index else ""}>{html.escape(str(label))}</option>'
                      for i, label in enumerate(labels))
    return (f'<div class="ck-widget-row">{_label(state)}<select disabled '
            f'aria-label="{html.escape(state.get("description") or "choice")}">{options}</select></div>')


def _output(output: dict) -> str:
    """One stored output of an Output widget: an image, HTML or text (the kinds a lecture's figures produce)."""
    kind = output.get("output_type")
    if kind == "stream":
        return f'<pre class="ck-widget-text">{html.escape("".join(output.get("text", "")))}</pre>'
    if kind == "error":
        return f'<pre class="ck-widget-text">{html.escape(output.get("ename", ""))}: ' \
               f'{html.escape(output.get("evalue", ""))}</pre>'
    data = output.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            payload = "".join(data[mime]) if isinstance(data[mime], list) else data[mime]
            alt = html.escape("".join(data.get("text/plain", "figure"))[:200])
            return f'<img class="ck-widget-figure" src="data:{mime};base64,{payload.strip()}" alt="{alt}">'
    if "image/svg+xml" in data:
        return "".join(data["image/svg+xml"])
    if "text/html" in data:
        return "".join(data["text/html"])
    if "text/plain" in data:
        return f'<pre class="ck-widget-text">{html.escape("".join(data["text/plain"]))}</pre>'
    return ""


def render_model(model_id: str, state: dict, seen: frozenset = frozenset()) -> str:
    """HTML for one widget model and its children, from the notebook's stored widget state."""
    entry = state.get(model_id)
    if entry is None or model_id in seen:
        return ""
    name, values = entry.get("model_name", ""), entry.get("state", {})
    seen = seen | {model_id}
    if name in BOXES:
        direction = "row" if name == "HBoxModel" else "column"
        children = "".join(render_model(_ref(child), state, seen) for child in values.get("children", []))
        return f'<div class="ck-widget-box" style="display:flex;flex-direction:{direction};gap:0.3em">' \
               f'{children}</div>'
    if name in SLIDERS:
        return _slider(name, values)
    if name in CHOICES:
        return _choice(values)
    if name == "CheckboxModel":
        checked = " checked" if values.get("value") else ""
        return f'<div class="ck-widget-row"><label><input type="checkbox" disabled{checked}> ' \
               f'{html.escape(values.get("description") or "")}</label></div>'
    if name == "OutputModel":
        return "".join(_output(o) for o in values.get("outputs", []))
    if name in ("HTMLModel", "HTMLMathModel"):
        return f'<div class="ck-widget-row">{values.get("value", "")}</div>'
    if name in ("LabelModel", "TextModel", "TextareaModel"):
        return f'<div class="ck-widget-row">{_label(values)}<span>{html.escape(str(values.get("value", "")))}' \
               f'</span></div>'
    if name in ("ButtonModel", "ToggleButtonModel"):
        return f'<div class="ck-widget-row"><button disabled>{html.escape(values.get("description") or "")}' \
               f'</button></div>'
    return f'<div class="ck-widget-row"><em>{html.escape(name.removesuffix("Model") or "widget")}</em></div>'


def widget_html(model_id: str, state: dict) -> str:
    """The static view of a widget output: its controls and figure, with the note, or the note for no state."""
    if model_id not in state:
        return f'<div class="ck-widget ck-widget-missing"><p class="ck-widget-note">{MISSING}</p></div>'
    return (f'<div class="ck-widget">{render_model(model_id, state)}'
            f'<p class="ck-widget-note">{NOTE}</p></div>')


def staticize(nb: dict) -> int:
    """Replace every widget output of a notebook (nbformat 4, as a dict) by its static HTML, in place, and drop
    the stored widget state from its metadata. Returns how many widget outputs were replaced."""
    state = nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            model_id = data[WIDGET_VIEW].get("model_id", "")
            output["data"] = {"text/html": widget_html(model_id, state),
                              "text/plain": data.get("text/plain", "widget")}
            output.setdefault("metadata", {})
            replaced += 1
    nb.get("metadata", {}).pop("widgets", None)
    return replaced
