"""Tables and seaborn plots of stored runs."""

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns


def history_frame(records, **labels) -> pd.DataFrame:
    """Long table of per-epoch metrics: one row per (run, epoch, split).

    ``labels`` map a column name to a function of a record's config, for example
    ``N=lambda c: c["variant_options"]["num_train"]``.
    """
    rows = []
    for record in records:
        extra = {name: label(record["config"]) for name, label in labels.items()}
        for epoch in record["history"]:
            for split in ("train", "test"):
                rows.append({**extra, "seed": record["config"]["seed"], "epoch": epoch["epoch"], "split": split,
                             "accuracy": epoch[f"{split}_acc"], "loss": epoch[f"{split}_loss"]})
    return pd.DataFrame(rows)


def final_table(frame: pd.DataFrame, by) -> pd.DataFrame:
    """Final-epoch accuracy per group and split: mean, std and n over seeds."""
    last = frame[frame["epoch"] == frame.groupby(by + ["seed"])["epoch"].transform("max")]
    table = last.groupby(by + ["split"])["accuracy"].agg(["mean", "std", "count"]).unstack("split")
    table.columns = [f"{split} {stat}".replace("count", "n") for stat, split in table.columns]
    return table


def accuracy_curves(frame: pd.DataFrame, hue: str, title: str, ax=None):
    """Train (solid) and test (dashed) accuracy against epoch, one colour per ``hue`` value.

    With several seeds the band is the standard deviation across seeds.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=frame, x="epoch", y="accuracy", hue=hue, style="split", style_order=["train", "test"],
                 errorbar="sd", marker="o", markersize=4, palette="viridis", ax=ax)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return ax


def transform_heatmap(frame: pd.DataFrame, title: str, ax=None):
    """Variant x transform accuracy (mean over seeds) at one strength, annotated."""
    table = frame.pivot_table(index="variant", columns="transform", values="accuracy", aggfunc="mean")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(table.columns) + 2, 0.55 * len(table) + 1.5))
    sns.heatmap(table, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", cbar_kws={"label": "accuracy"}, ax=ax)
    ax.set_title(title)
    return ax


def transform_panels(frame: pd.DataFrame, chance: dict):
    """One bar panel per variant: accuracy per transform, with the variant's chance level dashed."""
    grid = sns.catplot(data=frame, x="transform", y="accuracy", col="variant", col_wrap=3, kind="bar",
                       errorbar="sd", height=2.8, aspect=1.3, color="#3b7dd8")
    for variant, ax in grid.axes_dict.items():
        ax.axhline(chance[variant], ls="--", color="grey", lw=1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(axis="x", rotation=45)
    return grid


def strength_curves(frame: pd.DataFrame):
    """Accuracy against transform strength, one panel per variant, one line per transform."""
    grid = sns.relplot(data=frame, x="strength", y="accuracy", hue="transform", col="variant", col_wrap=3,
                       kind="line", marker="o", errorbar="sd", height=2.8, aspect=1.3)
    for ax in grid.axes.flat:
        ax.axvline(1.0, ls=":", color="grey", lw=1)
        ax.set_ylim(0, 1.02)
    return grid
