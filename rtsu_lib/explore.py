"""Interactive explorers: one RTSU layer, and a trained model under a generating function.

Each explorer has
  - a pure function that computes what it shows for given control values (``rtsu_view``,
    ``transform_view``), tested without a browser;
  - a live view (ipywidgets, for a running kernel in JupyterLab or classic Notebook);
  - a static view for the HTML book, which has no kernel: a plotly figure whose sliders and menus
    switch between values precomputed on a grid of control values (``rtsu_lib.explorer_figures``).
``show_rtsu_explorer`` / ``show_transform_explorer`` pick the view: static when the environment
variable RTSU_STATIC_EXPLORERS is "1" (``rtsu run`` and ``rtsu book`` set it for their kernels),
live otherwise.
"""

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .activations import INIT_SCHEMES, RTSU, SHIFT_RANGE, sample_rtsu_angles
from .book_assets import static_explorers_requested
from .theory import linearly_separable, make_2d_dataset

log = logging.getLogger(__name__)

EXPLORER_DATASETS = ("two_moons", "xor", "random_labels")
INPUT_RANGE = 3.0
CURVE_INPUTS = np.linspace(-INPUT_RANGE, INPUT_RANGE, 7)  # RTSU is linear between 0 and each end
STRENGTH_RANGE = (0.0, 2.0)  # multiples of the paper's setting


# --- RTSU explorer: data ----------------------------------------------------------------------------

@dataclass
class RTSUView:
    """What the RTSU explorer shows for one setting of its controls."""

    theta_deg: float
    shift: tuple
    scheme: str
    dataset: str
    unit_angles_deg: np.ndarray  # (U,) every unit's angle; unit 0's is theta
    unit_curves: np.ndarray      # (U, T, 2): each unit's output for the inputs CURVE_INPUTS
    image: np.ndarray            # (N, 2U): the data set through the layer
    view: np.ndarray             # (N, 2): the sum of the units' output planes, a linear map of ``image``
    labels: np.ndarray           # (N,)
    separable_input: bool
    separable_image: bool
    separable_view: bool


def k_half_lines() -> np.ndarray:
    """k(t) = (max(t, 0), min(t, 0)) for t in [-3, 3]: two half-lines from the origin (segment, end, xy)."""
    return np.array([[[0.0, 0.0], [INPUT_RANGE, 0.0]], [[0.0, 0.0], [0.0, -INPUT_RANGE]]])


def explorer_layer(theta_deg: float, shift_x: float, shift_y: float, scheme: str = "grid", num_units: int = 4,
                   seed: int = 0) -> RTSU:
    """``num_units`` RTSUs: unit 0 at angle ``theta_deg``, the others offset from it as ``scheme`` draws them
    (seeded), all with the shift (shift_x, shift_y)."""
    if num_units < 1:
        raise ValueError(f"num_units={num_units!r} is not allowed: must be >= 1")
    angles = sample_rtsu_angles(num_units, scheme, torch.Generator().manual_seed(seed))
    theta = np.deg2rad(theta_deg) + (angles - angles[0]).numpy()
    return RTSU.from_parameters(theta, np.full(num_units, float(shift_x)), np.full(num_units, float(shift_y)))


def layer_inputs(x: np.ndarray, num_units: int, seed: int = 0) -> np.ndarray:
    """Pre-activations z = W x' + b of the layer's units for standardised points x' (seeded Gaussian W, b)."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(num_units, 2, generator=generator, dtype=torch.float64).numpy()
    bias = 0.5 * torch.randn(num_units, generator=generator, dtype=torch.float64).numpy()
    standardised = (x - x.mean(0)) / x.std(0)
    return standardised @ weights.T + bias


def rtsu_view(theta_deg: float = 0.0, shift_x: float = 0.0, shift_y: float = 0.0, scheme: str = "grid",
              dataset: str = "two_moons", num_units: int = 4, seed: int = 0) -> RTSUView:
    """The RTSU explorer's data: the units' curves and the image of ``dataset`` through the layer."""
    if dataset not in EXPLORER_DATASETS:
        raise ValueError(f"unknown explorer data set {dataset!r}; choose one of {list(EXPLORER_DATASETS)}")
    layer = explorer_layer(theta_deg, shift_x, shift_y, scheme, num_units, seed)
    x, y = make_2d_dataset(dataset, seed=seed)
    with torch.no_grad():
        curves = layer(torch.tensor(np.repeat(CURVE_INPUTS[:, None], num_units, 1), dtype=torch.float32))
        image = layer(torch.tensor(layer_inputs(x, num_units, seed), dtype=torch.float32)).double().numpy()
    curves = curves.double().numpy().reshape(len(CURVE_INPUTS), 2, num_units).transpose(2, 0, 1)
    view = np.c_[image[:, :num_units].sum(1), image[:, num_units:].sum(1)]
    return RTSUView(theta_deg=float(theta_deg), shift=(float(shift_x), float(shift_y)), scheme=scheme,
                    dataset=dataset, unit_angles_deg=np.rad2deg(layer.theta.double().numpy()) % 360,
                    unit_curves=curves, image=image, view=view, labels=y,
                    separable_input=linearly_separable(x, y), separable_image=linearly_separable(image, y),
                    separable_view=linearly_separable(view, y))


def rtsu_caption(view: RTSUView) -> str:
    yes_no = {True: "yes", False: "no"}
    return (f"{view.dataset}: linearly separable? input {yes_no[view.separable_input]}, "
            f"layer image ({view.image.shape[1]}-D) {yes_no[view.separable_image]}, "
            f"this 2-D view {yes_no[view.separable_view]}")


# --- transform explorer: data -----------------------------------------------------------------------

@dataclass
class TrainedVariant:
    """A stored run's trained model and its training images before normalisation."""

    variant: str
    model: torch.nn.Module
    train_x: torch.Tensor
    train_y: torch.Tensor
    to_model_space: object

    @classmethod
    def load(cls, config, store=None, data_dir=None) -> "TrainedVariant":
        from .evaluation import model_and_data

        model, raw, to_model_space = model_and_data(config, store, data_dir)
        return cls(config.variant, model, raw.train_x, raw.train_y, to_model_space)


@dataclass
class TransformView:
    """What the transform explorer shows for one setting of its controls."""

    variant: str
    transform: str
    strength: float
    index: int
    before: np.ndarray   # (H, W, C) in [0, 1] for display
    after: np.ndarray    # (H, W, C), on the same display scale as ``before``
    label: int
    predicted_before: int
    confidence_before: float
    predicted_after: int
    confidence_after: float
    curve_strengths: np.ndarray
    curve_accuracies: np.ndarray


def strength_curve(rows, variant: str, transform: str) -> tuple[np.ndarray, np.ndarray]:
    """Strengths and accuracies (mean over seeds) of ``transform`` on ``variant`` from accuracy rows."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    chosen = frame[(frame["variant"] == variant) & (frame["transform"] == transform)]
    curve = chosen.groupby("strength")["accuracy"].mean().sort_index()
    return curve.index.to_numpy(float), curve.to_numpy(float)


def display_scale(image: np.ndarray) -> tuple[float, float]:
    """[0, 1] for pixel images; the image's own range otherwise (the Gaussian variant)."""
    low, high = float(image.min()), float(image.max())
    return (0.0, 1.0) if low >= 0 and high <= 1 else (low, max(high, low + 1e-12))


def to_display(image: torch.Tensor, scale: tuple[float, float]) -> np.ndarray:
    low, high = scale
    return np.clip((image.permute(1, 2, 0).double().numpy() - low) / (high - low), 0, 1)


@torch.no_grad()
def predict(trained: TrainedVariant, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels and their softmax probability for a batch in the variant's own value space."""
    probabilities = torch.softmax(trained.model(trained.to_model_space(images)), 1)
    confidence, predicted = probabilities.max(1)
    return predicted.numpy(), confidence.double().numpy()


def transform_view(trained: TrainedVariant, transform: str, strength: float, index: int, rows=(),
                   seed: int = 0) -> TransformView:
    """Training image ``index`` of ``trained`` before and after ``transform`` at ``strength``, the model's
    predictions on both, and the accuracy-against-strength curve from ``rows`` (transform_accuracies rows
    with a ``variant`` column).

    The transform's random parameters come from a generator seeded by ``seed`` and ``index`` only, so
    moving the strength scales one draw rather than making a new one.
    """
    from .transforms import create_transform

    if not 0 <= index < len(trained.train_y):
        raise ValueError(f"index={index!r} is not allowed: the variant has {len(trained.train_y)} "
                         "training images")
    before = trained.train_x[index:index + 1]
    generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
    after = create_transform(transform, strength)(before, generator)
    predicted, confidence = predict(trained, torch.cat([before, after]))
    scale = display_scale(before[0].numpy())
    no_curve = (np.array([]), np.array([]))
    strengths, accuracies = strength_curve(rows, trained.variant, transform) if len(rows) else no_curve
    return TransformView(variant=trained.variant, transform=transform, strength=float(strength),
                         index=int(index),
                         before=to_display(before[0], scale), after=to_display(after[0], scale),
                         label=int(trained.train_y[index]), predicted_before=int(predicted[0]),
                         confidence_before=float(confidence[0]), predicted_after=int(predicted[1]),
                         confidence_after=float(confidence[1]), curve_strengths=strengths,
                         curve_accuracies=accuracies)


def prediction_text(predicted: int, confidence: float) -> str:
    return f"predicted {predicted} ({confidence:.0%})"


def transform_title(view: TransformView) -> str:
    return (f"{view.variant}, training image {view.index} (label {view.label}): "
            f"{view.transform} at strength {view.strength:g}")


# --- live views (ipywidgets + matplotlib) ----------------------------------------------------------

class LiveExplorer:
    """Controls (ipywidgets) above a figure that ``draw(compute(**values))`` redraws on every change."""

    def __init__(self, controls: dict, compute, draw):
        import ipywidgets as widgets

        self.controls, self.compute, self.draw = controls, compute, draw
        self.output = widgets.Output()
        self.view = None
        for control in controls.values():
            control.observe(self.update, names="value")
        self.widget = widgets.VBox([widgets.HBox(list(controls.values()), layout={"flex_flow": "row wrap"}),
                                    self.output])
        self.update()

    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change=None):
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.view = self.compute(**self.values())
        with self.output:
            self.output.clear_output(wait=True)
            figure = self.draw(self.view)
            display(figure)
            plt.close(figure)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def live_rtsu_explorer(num_units: int = 4, seed: int = 0) -> LiveExplorer:
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    controls = {
        "theta_deg": widgets.FloatSlider(value=0, min=0, max=360, step=1, description="angle θ (deg)",
                                         style=style),
        "shift_x": widgets.FloatSlider(value=0, min=-SHIFT_RANGE, max=SHIFT_RANGE, step=0.05,
                                       description="shift x", style=style),
        "shift_y": widgets.FloatSlider(value=0, min=-SHIFT_RANGE, max=SHIFT_RANGE, step=0.05,
                                       description="shift y", style=style),
        "scheme": widgets.Dropdown(options=list(INIT_SCHEMES), description="scheme", style=style),
        "dataset": widgets.Dropdown(options=list(EXPLORER_DATASETS), description="data", style=style),
    }

    def compute(**values):
        return rtsu_view(**values, num_units=num_units, seed=seed)

    return LiveExplorer(controls, compute, draw_rtsu_view)


def live_transform_explorer(configs: dict, rows, transforms, seed: int = 0, store=None,
                            data_dir=None) -> LiveExplorer:
    """``configs``: variant -> RunConfig of a stored run; ``rows``: accuracy rows with a variant column."""
    import ipywidgets as widgets

    trained = {}

    def compute(variant, transform, strength, index):
        if variant not in trained:
            trained[variant] = TrainedVariant.load(configs[variant], store, data_dir)
        controls["index"].max = len(trained[variant].train_y) - 1
        index = min(index, controls["index"].max)
        return transform_view(trained[variant], transform, strength, index, rows, seed)

    style = {"description_width": "initial"}
    controls = {
        "variant": widgets.Dropdown(options=list(configs), description="variant", style=style),
        "transform": widgets.Dropdown(options=list(transforms), description="transform", style=style),
        "strength": widgets.FloatSlider(value=1.0, min=STRENGTH_RANGE[0], max=STRENGTH_RANGE[1], step=0.05,
                                        description="strength (× paper)", style=style),
        "index": widgets.IntSlider(value=0, min=0, max=99, description="training image", style=style),
    }
    return LiveExplorer(controls, compute, draw_transform_view)


def draw_rtsu_view(view: RTSUView):
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.3))
    for segment in k_half_lines():
        left.plot(*segment.T, color="grey", ls="--", lw=1)
    for unit, curve in enumerate(view.unit_curves):
        left.plot(*curve.T, marker="o", ms=3, lw=2.5 if unit == 0 else 1, label=f"unit {unit}")
    left.set(xlim=(-4.6, 4.6), ylim=(-4.6, 4.6), aspect="equal",
             title=f"units for inputs in [-3, 3]; θ = {view.theta_deg:g}°, shift {view.shift}")
    left.legend(fontsize=7, loc="lower left")
    right.scatter(*view.view.T, c=view.labels, cmap="coolwarm", s=14, edgecolor="k", linewidth=0.3)
    right.set_title("layer image: sum of the units' output planes", fontsize=10)
    figure.suptitle(rtsu_caption(view), fontsize=10)
    figure.tight_layout()
    return figure


def draw_transform_view(view: TransformView):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1, 2]})
    for ax, image, predicted, confidence, name in (
            (axes[0], view.before, view.predicted_before, view.confidence_before, "training image"),
            (axes[1], view.after, view.predicted_after, view.confidence_after, "generated")):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(prediction_text(predicted, confidence))
        ax.set_xticks([])
        ax.set_yticks([])
    axes[2].plot(view.curve_strengths, view.curve_accuracies, marker="o")
    if len(view.curve_strengths):
        axes[2].axvline(view.strength, color="crimson", ls=":")
    axes[2].set(xlabel="strength (× paper's setting)", ylabel="accuracy on training images", ylim=(0, 1.02),
                xlim=STRENGTH_RANGE)
    figure.suptitle(transform_title(view), fontsize=10)
    figure.tight_layout()
    return figure


# --- the choice of view ----------------------------------------------------------------------------

def show_rtsu_explorer(num_units: int = 4, seed: int = 0, **static_grid):
    """Display the RTSU explorer: static (plotly, precomputed on ``static_grid``) or live (ipywidgets)."""
    from IPython.display import HTML, display

    if static_explorers_requested():
        from .explorer_figures import rtsu_explorer_html

        display(HTML(rtsu_explorer_html(num_units=num_units, seed=seed, **static_grid)))
    else:
        display(live_rtsu_explorer(num_units=num_units, seed=seed))


def show_transform_explorer(configs: dict, rows, transforms, strengths, num_images: int = 3, seed: int = 0,
                            store=None, data_dir=None):
    """Display the transform explorer: static over ``strengths`` x the first ``num_images`` training images,
    or live (any strength in [0, 2], any image)."""
    from IPython.display import HTML, display

    if static_explorers_requested():
        from .explorer_figures import transform_explorer_html

        display(HTML(transform_explorer_html(configs, rows, transforms, strengths, num_images, seed, store,
                                             data_dir)))
    else:
        display(live_transform_explorer(configs, rows, transforms, seed, store, data_dir))
