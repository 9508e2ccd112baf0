"""One run = one ``RunConfig``: build the variant, the model and the trainer; store the result.

``run(config)`` returns the stored result when the store already holds one for the
config's hash, and otherwise trains (resuming from the run's checkpoint if one exists).
"""

import dataclasses
import logging
import time
import typing
from dataclasses import dataclass, field

import torch

from .activations import ACTIVATIONS, INIT_SCHEMES
from .models import MODELS, count_parameters, create_model
from .results import ResultsStore, provenance
from .training import TrainSettings, Trainer, TrainingDiverged
from .variants import NORMALIZATIONS, VARIANTS, check_options, create_variant, normalize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result (and so its key in the results store)."""

    variant: str
    variant_options: dict = field(default_factory=dict)
    normalize: str = "none"
    model: str = "wrn"
    depth: int = 16
    widen_factor: int = 1
    activation: str = "rtsu"
    rtsu_init: str = "grid"
    dropout: float = 0.0
    num_epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_milestones: tuple = ()
    lr_gamma: float = 0.1
    augment: bool = False
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))
        object.__setattr__(self, "variant_options", dict(self.variant_options))
        _check_types(self)
        _check_values(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown run parameter(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        return cls(**values)

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["lr_milestones"] = list(self.lr_milestones)
        return values

    def train_settings(self) -> TrainSettings:
        return TrainSettings(num_epochs=self.num_epochs, batch_size=self.batch_size, lr=self.lr,
                             momentum=self.momentum, weight_decay=self.weight_decay,
                             lr_milestones=self.lr_milestones, lr_gamma=self.lr_gamma,
                             augment=self.augment, seed=self.seed)


def _check_types(config):
    hints = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(config):
        value, expected = getattr(config, f.name), hints[f.name]
        ok = isinstance(value, expected) and not (expected in (int, float) and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise TypeError(f"{f.name}={value!r} has type {type(value).__name__}; expected {expected.__name__}")
    if not all(isinstance(m, int) and not isinstance(m, bool) for m in config.lr_milestones):
        raise TypeError(f"lr_milestones={list(config.lr_milestones)!r} must be a list of integers")


def _check_values(config):
    rules = [
        ("variant", config.variant in VARIANTS, f"one of {sorted(VARIANTS)}"),
        ("model", config.model in MODELS, f"one of {sorted(MODELS)}"),
        ("activation", config.activation in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}"),
        ("rtsu_init", config.rtsu_init in INIT_SCHEMES, f"one of {list(INIT_SCHEMES)}"),
        ("normalize", config.normalize in NORMALIZATIONS, f"one of {list(NORMALIZATIONS)}"),
        ("depth", config.depth >= 10 and (config.depth - 4) % 6 == 0, "6n + 4 with n >= 1 (10, 16, 22, ...)"),
        ("widen_factor", config.widen_factor >= 1, ">= 1"),
        ("dropout", 0.0 <= config.dropout < 1.0, "in [0, 1)"),
        ("num_epochs", config.num_epochs >= 1, ">= 1"),
        ("batch_size", config.batch_size >= 1, ">= 1"),
        ("lr", config.lr > 0, "> 0"),
        ("momentum", 0.0 <= config.momentum < 1.0, "in [0, 1)"),
        ("weight_decay", config.weight_decay >= 0, ">= 0"),
        ("lr_gamma", 0.0 < config.lr_gamma <= 1.0, "in (0, 1]"),
        ("lr_milestones", all(m >= 1 for m in config.lr_milestones), "epochs >= 1"),
        ("seed", config.seed >= 0, ">= 0"),
    ]
    for name, ok, allowed in rules:
        if not ok:
            raise ValueError(f"{name}={getattr(config, name)!r} is not allowed: must be {allowed}")
    check_options(config.variant, config.variant_options)


def build_model(config: RunConfig, num_classes: int) -> torch.nn.Module:
    return create_model(config.model, seed=config.seed, depth=config.depth, widen_factor=config.widen_factor,
                        num_classes=num_classes, activation=config.activation, dropout=config.dropout,
                        activation_options={"init": config.rtsu_init})


def load_data(config: RunConfig, data_dir=None, download=False):
    splits = create_variant(config.variant, seed=config.seed, data_dir=data_dir, download=download,
                            **config.variant_options)
    return normalize(splits, config.normalize)


def run(config: RunConfig, store: ResultsStore | None = None, *, data_dir=None, download=False, device=None) -> dict:
    """The stored result of ``config``; trains it first when the store has none.

    The returned record has ``config``, ``history`` (one dict per epoch), ``status``
    (``done`` or ``diverged``) and ``provenance``. ``data_dir`` and ``download`` say where the
    data come from and do not change the result, so they are not part of the key.
    """
    return run_and_tell(config, store, data_dir=data_dir, download=download, device=device)[0]


def run_and_tell(config: RunConfig, store: ResultsStore | None = None, **options) -> tuple[dict, bool]:
    """``run``, and whether it trained (False: the result was already in the store).

    The run's lock is held while training, so two processes asked for the same config train it
    once: the second waits, then reads the first one's result.
    """
    store = store or ResultsStore()
    existing = store.get(config)
    if existing is None:
        with store.lock(store.key(config)):
            existing = store.get(config)
            if existing is None:
                return _train(config, store, **options), True
    log.info("already in the store: %s (%s)", store.key(config), config.variant)
    return existing, False


def _train(config: RunConfig, store: ResultsStore, *, data_dir=None, download=False, device=None) -> dict:
    started = time.time()
    splits = load_data(config, data_dir=data_dir, download=download)
    model = build_model(config, splits.num_classes)
    trainer = Trainer(model, config.train_settings(), device=device, checkpoint_path=store.checkpoint_path(config))
    log.info("training %s: %s on %s, %d parameters, %d train / %d test examples", store.key(config),
             config.activation, config.variant, count_parameters(model), len(splits.train_y), len(splits.test_y))
    status, error, diverged_epoch = "done", None, None
    try:
        history = trainer.fit(splits.train_x, splits.train_y, splits.test_x, splits.test_y)
    except TrainingDiverged as diverged:
        status, error, history, diverged_epoch = "diverged", str(diverged), trainer.history, diverged.epoch
        log.warning("%s", diverged)
    record = {"config": config.to_dict(), "status": status, "error": error, "diverged_epoch": diverged_epoch,
              "history": history,
              "data": splits.info, "num_classes": splits.num_classes,
              "provenance": provenance(seed=config.seed, device=trainer.device, wall_seconds=time.time() - started,
                                       num_parameters=count_parameters(model),
                                       compiled=trainer.compiled)}
    weights = {name: tensor.cpu() for name, tensor in trainer.model.state_dict().items()}
    store.put(config, record, weights if status == "done" else None)
    return record


def load_trained_model(config: RunConfig, store: ResultsStore | None = None):
    """The trained model of a stored run (eval mode, on the CPU)."""
    store = store or ResultsStore()
    record = store.get(config)
    if record is None or record["status"] != "done":
        raise LookupError(f"run {store.key(config)} is not in the store at {store.root} as done; run it first")
    model = build_model(config, record["num_classes"])
    model.load_state_dict(store.load_weights(config))
    return model.eval()


def run_all(configs, store: ResultsStore | None = None, **options) -> list[dict]:
    """``run`` each config in turn (stored ones are read, not retrained)."""
    store = store or ResultsStore()
    return [run(config, store, **options) for config in configs]
