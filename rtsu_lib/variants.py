"""Dataset variants, chosen by name from one registry.

Every variant is built as ``create_variant(name, seed=..., data_dir=..., download=..., **options)``
and returns a ``Splits``: float32 images (N, 3, 32, 32) and int64 labels for a train and a
test split. Image variants hold pixels in [0, 1]; Gaussian variants hold N(0, 1) values.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch

from .datasets import load_cifar

IMAGE_SHAPE = (3, 32, 32)


@dataclass
class Splits:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"{split}: {x.shape[0]} images but {y.shape[0]} labels")


def binary_gaussian(*, seed, num_train, num_test=5000, data_dir=None, download=False):
    """Fig 3: N points of N(0, I) in the image shape, half labelled 0 and half 1.

    The test set is drawn the same way from an independent stream of the same seed.
    Labels are a seeded permutation of [0] * N/2 + [1] * N/2, so classes are exactly balanced.
    """
    _require(num_train >= 2, "num_train", num_train, "an integer >= 2")
    _require(num_test >= 2, "num_test", num_test, "an integer >= 2")
    train_x, train_y = _gaussian_points(num_train, torch.Generator().manual_seed(2 * seed))
    test_x, test_y = _gaussian_points(num_test, torch.Generator().manual_seed(2 * seed + 1))
    return Splits(train_x, train_y, test_x, test_y, num_classes=2, info={"input": "N(0, I)"})


def _gaussian_points(count, generator):
    x = torch.randn((count, *IMAGE_SHAPE), generator=generator)
    y = (torch.arange(count) % 2)[torch.randperm(count, generator=generator)]
    return x, y


def binary_cifar10(*, seed, train_size=None, test_size=None, data_dir=None, download=False):
    """Fig 4: CIFAR-10 with each class split in half by a seeded permutation: one half 0, the other 1.

    ``train_size`` / ``test_size`` take a class-balanced seeded subset first (all images when None).
    """
    data = load_cifar("cifar10", data_dir=data_dir, download=download)
    rng = np.random.default_rng(seed)
    train_idx, train_y = _halve_each_class(data.train_y, train_size, rng, "train_size")
    test_idx, test_y = _halve_each_class(data.test_y, test_size, rng, "test_size")
    return Splits(_to_unit_float(data.train_x[train_idx]), torch.from_numpy(train_y),
                  _to_unit_float(data.test_x[test_idx]), torch.from_numpy(test_y),
                  num_classes=2, info={"source": data.source, "classes": list(data.classes)})


def _halve_each_class(labels, size, rng, name):
    classes = np.unique(labels)
    per_class = None
    if size is not None:
        _require(size >= 2 * len(classes) and size % len(classes) == 0, name, size,
                 f"None or a multiple of {len(classes)} that is at least {2 * len(classes)}")
        per_class = size // len(classes)
    indices, binary = [], []
    for cls in classes:
        members = rng.permutation(np.flatnonzero(labels == cls))
        if per_class is not None:
            _require(per_class <= len(members), name, size, f"at most {len(members) * len(classes)}")
            members = members[:per_class]
        half = len(members) // 2
        indices.append(members)
        binary.append(np.r_[np.zeros(half, np.int64), np.ones(len(members) - half, np.int64)])
    return np.concatenate(indices), np.concatenate(binary)


def _to_unit_float(images_uint8):
    return torch.from_numpy(images_uint8).float().div_(255.0)


def _require(condition, name, value, allowed):
    if not condition:
        raise ValueError(f"{name}={value!r} is not allowed: must be {allowed}")


VARIANTS = {"binary_gaussian": binary_gaussian, "binary_cifar10": binary_cifar10}


def create_variant(name, *, seed=0, data_dir=None, download=False, **options) -> Splits:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
    unknown = set(options) - set(variant_options(name))
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for variant {name!r}; "
                         f"it takes {sorted(variant_options(name))}")
    return VARIANTS[name](seed=seed, data_dir=data_dir, download=download, **options)


def variant_options(name) -> dict:
    """The options variant ``name`` takes beyond seed / data_dir / download, with their defaults."""
    parameters = inspect.signature(VARIANTS[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in ("seed", "data_dir", "download")}


NORMALIZATIONS = ("none", "featurewise")


def normalize(splits: Splits, method: str) -> Splits:
    """``featurewise``: subtract the per-feature mean and divide by the per-feature std, both
    computed on the training split only (each of the 3 x 32 x 32 values is a feature)."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize={method!r} is not allowed: must be one of {NORMALIZATIONS}")
    if method == "none":
        return splits
    mean = splits.train_x.mean(dim=0, keepdim=True)
    std = splits.train_x.std(dim=0, keepdim=True).clamp_min(1e-6)
    info = dict(splits.info, normalize=method)
    return Splits((splits.train_x - mean) / std, splits.train_y, (splits.test_x - mean) / std, splits.test_y,
                  splits.num_classes, info)
