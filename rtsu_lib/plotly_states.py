"""A plotly figure whose sliders and menus switch between precomputed states, with no kernel.

Plotly's own slider steps each carry fixed arguments, so two sliders cannot combine. Here every
control's steps do nothing by themselves (method ``skip``); a short script keeps the position of
each control and, on any change, applies the state precomputed for that combination of positions:
values per trace (``Plotly.restyle``) and layout values such as titles (``Plotly.relayout``).
Long values that repeat across states (images, curves) are stored once.

A state is ``{"traces": {trace_index: {attribute: value}}, "layout": {"title.text": ..., ...}}``;
``states`` lists one per combination of control values, in ``itertools.product`` order.
"""

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED_MIN_CHARS = 120  # values whose JSON is longer are stored once and referenced
DECIMALS = 4
SLIDER_HEIGHT_PX = 78
MENU_ROW_PX = 70
SCRIPT = Path(__file__).with_name("plotly_states.js")


@dataclass
class Control:
    """One slider or drop-down menu: its label, the values states exist for, and how each is shown."""

    label: str
    values: list
    kind: str = "slider"
    active: int = 0
    texts: list | None = None

    def __post_init__(self):
        if self.kind not in ("slider", "menu"):
            raise ValueError(f"control kind must be 'slider' or 'menu', got {self.kind!r}")
        if not self.values or not 0 <= self.active < len(self.values):
            raise ValueError(f"control {self.label!r}: active={self.active} outside its "
                             f"{len(self.values)} values")
        self.texts = list(self.texts) if self.texts is not None else [str(value) for value in self.values]


def combinations(controls) -> list[tuple]:
    """Every combination of control values, in the order ``states`` must follow."""
    return list(itertools.product(*(control.values for control in controls)))


def active_position(controls) -> int:
    """Index, in ``combinations``, of the state the controls start at."""
    position = 0
    for control in controls:
        position = position * len(control.values) + control.active
    return position


def jsonable(value):
    """numpy arrays and numbers as JSON values, floats rounded, NaN as null (a gap in a line)."""
    if isinstance(value, np.ndarray):
        value = np.round(value.astype(float), DECIMALS) if value.dtype.kind == "f" else value
        return [jsonable(item) for item in value.tolist()] if value.ndim else jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), DECIMALS)
    if isinstance(value, np.integer):
        return int(value)
    return value


def state_table(controls, states) -> dict:
    """The controls and states as the script reads them, with long repeated values shared."""
    if len(states) != len(combinations(controls)):
        raise ValueError(f"{len(states)} states for {len(combinations(controls))} combinations of controls")
    shared, index_of = [], {}

    def compact(value):
        value = jsonable(value)
        text = json.dumps(value)
        if len(text) < SHARED_MIN_CHARS:
            return value
        if text not in index_of:
            index_of[text] = len(shared)
            shared.append(value)
        return {"$ref": index_of[text]}

    table_states = [{"traces": {str(index): {key: compact(value) for key, value in attributes.items()}
                                for index, attributes in state.get("traces", {}).items()},
                     "layout": {key: compact(value) for key, value in state.get("layout", {}).items()}}
                    for state in states]
    table_controls = [{"name": control_name(position), "kind": control.kind, "count": len(control.values),
                       "active": control.active} for position, control in enumerate(controls)]
    return {"controls": table_controls, "states": table_states, "shared": shared}


def control_name(position: int) -> str:
    return f"control-{position}"


def add_controls(figure, controls, height: int):
    """Menus in a row above the plot, sliders stacked below it; the figure grows to make room."""
    sliders = [(position, control) for position, control in enumerate(controls) if control.kind == "slider"]
    menus = [(position, control) for position, control in enumerate(controls) if control.kind == "menu"]
    top = 50 + (MENU_ROW_PX if menus else 0)
    bottom = 40 + SLIDER_HEIGHT_PX * len(sliders)
    figure.update_layout(height=height + top + bottom, margin={"t": top, "b": bottom},
                         title={"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 14}})
    figure.update_layout(sliders=[_slider(position, control, -(45 + SLIDER_HEIGHT_PX * row) / height)
                                  for row, (position, control) in enumerate(sliders)],
                         updatemenus=[_menu(position, control, column / max(len(menus), 1), 1 + 36 / height)
                                      for column, (position, control) in enumerate(menus)])


def _slider(position, control, y):
    steps = [{"method": "skip", "label": text, "args": [None]} for text in control.texts]
    return {"name": control_name(position), "active": control.active, "steps": steps, "y": y,
            "yanchor": "top",
            "x": 0, "len": 1, "pad": {"t": 10}, "currentvalue": {"prefix": f"{control.label}: "}}


def _menu(position, control, x, y):
    buttons = [{"method": "skip", "label": f"{control.label}: {text}", "args": [None]}
               for text in control.texts]
    return {"name": control_name(position), "type": "dropdown", "active": control.active, "buttons": buttons,
            "x": x, "y": y, "xanchor": "left", "yanchor": "bottom", "showactive": True}


def apply_state(figure, state):
    """Set a state's values on the figure itself (the page then opens at that state, script or not)."""
    for index, attributes in state.get("traces", {}).items():
        figure.plotly_restyle({key: [jsonable(value)] for key, value in attributes.items()}, [int(index)])
    if state.get("layout"):
        figure.plotly_relayout({key: jsonable(value) for key, value in state["layout"].items()})


def state_figure_html(figure, controls, states, height: int = 420) -> str:
    """HTML for a notebook output: the figure (plotly.js loaded by the page), its controls and states."""
    apply_state(figure, states[active_position(controls)])
    add_controls(figure, controls, height)
    table = json.dumps(state_table(controls, states), separators=(",", ":")).replace("</", "<\\/")
    script = SCRIPT.read_text().replace("STATE_TABLE", table)
    return figure.to_html(full_html=False, include_plotlyjs=False, post_script=script,
                          config={"displayModeBar": False, "responsive": True})
