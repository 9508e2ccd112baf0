"""What a profile asks the trainer to do, in image-epochs, and what that costs at a measured speed.

Each figure notebook turns its parameters (the defaults of its ``parameters`` cell, overridden by
``params/<profile>/<notebook>.yaml``) into runs. ``profile_runs`` rebuilds that list, one ``RunCost``
per training run, without training anything; ``estimate_hours`` divides each run's work by the
images per second measured for its activation.

Work is counted in training-image equivalents: every training image of every epoch counts 1; every
image only passed forward (the test split after each epoch, the transformed images of Figs. 6-11)
counts ``FORWARD_SHARE``, since a forward pass is about a third of a training step.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

from .cli import declared_parameters, read_parameters
from .datasets import PROJECT_ROOT

FORWARD_SHARE = 1 / 3
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000


@dataclass(frozen=True)
class RunCost:
    notebook: str
    activation: str
    train_images: int
    test_images: int
    num_epochs: int
    extra_forward_images: int = 0  # images evaluated once after training (transformed copies)

    @property
    def image_epochs(self) -> int:
        return self.train_images * self.num_epochs

    @property
    def work(self) -> float:
        """Training-image equivalents (see the module docstring)."""
        forward = self.test_images * self.num_epochs + self.extra_forward_images
        return self.image_epochs + FORWARD_SHARE * forward


def notebook_parameters(notebook: str, profile: str, project_root=PROJECT_ROOT) -> dict:
    """The parameters ``notebook`` runs with at ``profile``: its cell defaults updated by the profile file."""
    root = Path(project_root)
    path = root / "book" / "notebooks" / f"{notebook}.ipynb"
    declared = declared_parameters(path)
    values = {name: ast.literal_eval(spec["default"]) for name, spec in declared.items()}
    values.update(read_parameters(root / "params" / profile / f"{notebook}.yaml", declared, path.name))
    return values


def _fig2(p):
    train, test = p["train_size"] or CIFAR_TRAIN, p["test_size"] or CIFAR_TEST
    return [RunCost("fig2_activations", activation, train, test, p["num_epochs"])
            for _ in p["datasets"] for activation in p["activations"] for _ in p["seeds"]]


def _fig3(p):
    return [RunCost("fig3_gaussian", p["activation"], size, p["num_test"], p["num_epochs"])
            for size in p["sizes"] for _ in p["seeds"]]


def _fig4(p):
    return [RunCost("fig4_binary_cifar10", p["activation"], p["train_size"] or CIFAR_TRAIN,
                    p["test_size"] or CIFAR_TEST, p["num_epochs"]) for _ in p["seeds"]]


def _fig6_11(p):
    train = p["train_size"] or CIFAR_TRAIN
    test = p["test_size"] or CIFAR_TEST
    transformed = min(p["eval_images"] or train, train) * len(p["transforms"]) * len(p["strengths"])
    return [RunCost("fig6_11_generating_functions", "rtsu", train, test, p["num_epochs"], transformed + test)
            for _ in p["variants"] for _ in p["seeds"]]


RUN_BUILDERS = {"fig2_activations": _fig2, "fig3_gaussian": _fig3, "fig4_binary_cifar10": _fig4,
                "fig6_11_generating_functions": _fig6_11}


def profile_runs(profile: str, project_root=PROJECT_ROOT) -> list[RunCost]:
    """Every training run of ``profile``'s figure notebooks (pages that train nothing are left out)."""
    runs = []
    for notebook, build in RUN_BUILDERS.items():
        if (Path(project_root) / "params" / profile / f"{notebook}.yaml").exists():
            runs += build(notebook_parameters(notebook, profile, project_root))
    return runs


def estimate_hours(runs: list[RunCost], images_per_second: dict) -> dict:
    """Hours per notebook and in total, given training images per second for each activation."""
    hours = {}
    for run in runs:
        hours[run.notebook] = hours.get(run.notebook, 0.0) + run.work / images_per_second[run.activation] / 3600
    hours["total"] = sum(hours.values())
    return hours
