"""Static explorers for the HTML book: plotly figures whose controls switch between precomputed states.

Each is computed at build time, with the profile's settings, from the same functions as the live
explorers (``rtsu_lib.explore``); see ``rtsu_lib.plotly_states`` for how the controls work offline.
"""

import base64
import io
import logging

import numpy as np

from .activations import INIT_SCHEMES, SHIFT_RANGE
from .explore import (EXPLORER_DATASETS, STRENGTH_RANGE, TrainedVariant, k_half_lines, prediction_text,
                      rtsu_caption, rtsu_view, transform_title, transform_view)
from .plotly_states import Control, combinations, state_figure_html

log = logging.getLogger(__name__)

AXIS_LIMIT = 4.6  # the unit curves reach |3| + 1.5 at most


# --- RTSU explorer ---------------------------------------------------------------------------------

def rtsu_controls(angle_step_deg: float = 30.0, shift_steps: int = 5, schemes=INIT_SCHEMES,
                  datasets=EXPLORER_DATASETS) -> list[Control]:
    angles = list(np.arange(0.0, 360.0, angle_step_deg))
    shifts = list(np.round(np.linspace(-SHIFT_RANGE, SHIFT_RANGE, shift_steps), 4))
    middle = shift_steps // 2
    return [Control("angle θ (deg)", angles, texts=[f"{a:g}" for a in angles]),
            Control("shift x", shifts, active=middle, texts=[f"{s:g}" for s in shifts]),
            Control("shift y", shifts, active=middle, texts=[f"{s:g}" for s in shifts]),
            Control("scheme", list(schemes), kind="menu"),
            Control("data set", list(datasets), kind="menu")]


def rtsu_state(view, view_limits) -> dict:
    """Traces 1 .. U: the units' curves; U + 1, U + 2: the two classes in the 2-D view."""
    traces = {1 + unit: {"x": curve[:, 0], "y": curve[:, 1]} for unit, curve in enumerate(view.unit_curves)}
    first = len(view.unit_curves) + 1
    for offset, label in enumerate((0, 1)):
        points = view.view[view.labels == label]
        traces[first + offset] = {"x": points[:, 0], "y": points[:, 1]}
    angles = ", ".join(f"{angle:.0f}°" for angle in view.unit_angles_deg)
    return {"traces": traces,
            "layout": {"title.text": rtsu_caption(view), "xaxis2.range": view_limits,
                       "yaxis2.range": view_limits,
                       "xaxis.title.text": f"unit angles {angles}; shift ({view.shift[0]:g}, {view.shift[1]:g})"}}


def rtsu_figure(num_units: int):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(1, 2, subplot_titles=("units, inputs in [-3, 3]; dashed: k",
                                                 "the data through the layer (sum of unit planes)"))
    half_lines = k_half_lines()
    figure.add_trace(go.Scatter(x=[*half_lines[0, :, 0], None, *half_lines[1, :, 0]],
                                y=[*half_lines[0, :, 1], None, *half_lines[1, :, 1]], mode="lines",
                                line={"dash": "dash", "color": "grey"}, name="k(x)"), 1, 1)
    for unit in range(num_units):
        figure.add_trace(go.Scatter(mode="lines+markers", name=f"unit {unit}", marker={"size": 4},
                                    line={"width": 3.5 if unit == 0 else 1.5}), 1, 1)
    for label, colour in ((0, "#3b4cc0"), (1, "#b40426")):
        figure.add_trace(go.Scatter(mode="markers", name=f"class {label}",
                                    marker={"color": colour, "size": 6, "line": {"width": 0.5}}), 1, 2)
    figure.update_xaxes(range=[-AXIS_LIMIT, AXIS_LIMIT], row=1, col=1)
    figure.update_yaxes(range=[-AXIS_LIMIT, AXIS_LIMIT], scaleanchor="x", row=1, col=1)
    figure.update_layout(template="plotly_white", title={"font": {"size": 14}}, legend={"font": {"size": 10}})
    figure.update_annotations(font_size=12)  # the subplot titles
    return figure


def rtsu_explorer_html(num_units: int = 4, seed: int = 0, angle_step_deg: float = 30.0,
                       shift_steps: int = 5) -> str:
    controls = rtsu_controls(angle_step_deg, shift_steps)
    views = [rtsu_view(theta, sx, sy, scheme, dataset, num_units, seed)
             for theta, sx, sy, scheme, dataset in combinations(controls)]
    limits = {}
    for view in views:  # one fixed range per data set, so moving a control moves the points, not the axes
        limits[view.dataset] = max(limits.get(view.dataset, 0.0), float(np.abs(view.view).max()) * 1.05)
    states = [rtsu_state(view, [-limits[view.dataset], limits[view.dataset]]) for view in views]
    log.info("RTSU explorer: %d precomputed states", len(states))
    # about as tall as a panel is wide on a book page, so the equal-aspect left panel fills its space
    return state_figure_html(rtsu_figure(num_units), controls, states, height=300)


# --- transform explorer ----------------------------------------------------------------------------

def png_data_uri(image: np.ndarray) -> str:
    """An (H, W, C) image in [0, 1] as a PNG data URI (what a plotly Image trace takes as ``source``)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def transform_controls(variants, transforms, strengths, num_images: int) -> list[Control]:
    strengths = [float(s) for s in strengths]
    middle = strengths.index(1.0) if 1.0 in strengths else 0
    return [Control("variant", list(variants), kind="menu"),
            Control("transform", list(transforms), kind="menu"),
            Control("strength (× paper)", strengths, active=middle, texts=[f"{s:g}" for s in strengths]),
            Control("training image", list(range(num_images)))]


def transform_state(view) -> dict:
    """Traces 0, 1: the images; 2: the accuracy curve; 3: the current strength on it."""
    marker_y = np.interp(view.strength, view.curve_strengths, view.curve_accuracies) \
        if len(view.curve_strengths) else np.nan
    return {"traces": {0: {"source": png_data_uri(view.before)}, 1: {"source": png_data_uri(view.after)},
                       2: {"x": view.curve_strengths, "y": view.curve_accuracies},
                       3: {"x": [view.strength], "y": [marker_y]}},
            "layout": {"title.text": transform_title(view),
                       "xaxis.title.text": prediction_text(view.predicted_before, view.confidence_before),
                       "xaxis2.title.text": prediction_text(view.predicted_after, view.confidence_after)}}


def transform_figure():
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(1, 3, column_widths=[0.22, 0.22, 0.56], horizontal_spacing=0.06,
                           subplot_titles=("training image", "generated", "accuracy on training images"))
    figure.add_trace(go.Image(name="training image"), 1, 1)
    figure.add_trace(go.Image(name="generated"), 1, 2)
    figure.add_trace(go.Scatter(mode="lines+markers", name="accuracy"), 1, 3)
    figure.add_trace(go.Scatter(mode="markers", name="this strength",
                                marker={"size": 14, "color": "crimson", "symbol": "diamond"}), 1, 3)
    for column in (1, 2):
        figure.update_xaxes(showticklabels=False, row=1, col=column)
        figure.update_yaxes(showticklabels=False, row=1, col=column)
    figure.update_xaxes(title_text="strength (× paper's setting)", range=[-0.05, STRENGTH_RANGE[1] + 0.05],
                        row=1, col=3)
    figure.update_yaxes(range=[0, 1.02], row=1, col=3)
    figure.update_layout(template="plotly_white", showlegend=False, title={"font": {"size": 14}})
    figure.update_annotations(font_size=12)  # the subplot titles
    return figure


def transform_explorer_html(configs: dict, rows, transforms, strengths, num_images: int = 3, seed: int = 0,
                            store=None, data_dir=None) -> str:
    """``configs``: variant -> RunConfig of a stored run; states for every variant x transform x strength x
    one of the first ``num_images`` training images."""
    controls = transform_controls(configs, transforms, strengths, num_images)
    trained = {variant: TrainedVariant.load(config, store, data_dir) for variant, config in configs.items()}
    states = [transform_state(transform_view(trained[variant], transform, strength, index, rows, seed))
              for variant, transform, strength, index in combinations(controls)]
    log.info("transform explorer: %d precomputed states", len(states))
    return state_figure_html(transform_figure(), controls, states, height=330)
