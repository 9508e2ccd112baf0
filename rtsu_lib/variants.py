"""Dataset variants, chosen by name from one registry.

Every variant is built as ``create_variant(name, seed=..., data_dir=..., download=..., **options)``
and returns a ``Splits``: float32 images (N, 3, 32, 32) and int64 labels for a train and a
test split. Image variants hold pixels in [0, 1] (permuted for the pixel variants); ``binary_gaussian``
holds N(0, 1) values and ``gaussian`` values with the training split's per-feature mean and std.
The CIFAR-based variants take ``dataset`` (cifar10 or cifar100) and optional class-balanced
``train_size`` / ``test_size`` subsets, drawn from the seed.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
import torch

from .checks import is_int, require
from .datasets import load_cifar

IMAGE_SHAPE = (3, 32, 32)


@dataclass
class Splits:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    info: dict = field(default_factory=dict)  # small facts, saved with each run's result
    extras: dict = field(default_factory=dict)  # tensors that describe the draw (masks, permutations)

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
    require(num_train >= 2, "num_train", num_train, "an integer >= 2")
    require(num_test >= 2, "num_test", num_test, "an integer >= 2")
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
    The test split is halved the same way.
    """
    data = load_cifar("cifar10", data_dir=data_dir, download=download)
    rng = np.random.default_rng(seed)
    train_idx, train_y = _halve_each_class(data.train_y, train_size, rng, "train_size")
    test_idx, test_y = _halve_each_class(data.test_y, test_size, rng, "test_size")
    return Splits(_to_unit_float(data.train_x[train_idx]), torch.from_numpy(train_y),
                  _to_unit_float(data.test_x[test_idx]), torch.from_numpy(test_y),
                  num_classes=2, info={"source": data.source, "classes": list(data.classes)})


def _balanced_subset(labels, size, rng, name) -> list[np.ndarray]:
    """Per class, a seeded random order of its members, cut to size / num_classes when size is given."""
    classes = np.unique(labels)
    per_class = None
    if size is not None:
        require(size >= 2 * len(classes) and size % len(classes) == 0, name, size,
                 f"None or a multiple of {len(classes)} that is at least {2 * len(classes)}")
        per_class = size // len(classes)
    groups = []
    for cls in classes:
        members = rng.permutation(np.flatnonzero(labels == cls))
        if per_class is not None:
            require(per_class <= len(members), name, size, f"at most {len(members) * len(classes)}")
            members = members[:per_class]
        groups.append(members)
    return groups


def _halve_each_class(labels, size, rng, name):
    groups = _balanced_subset(labels, size, rng, name)
    binary = [np.r_[np.zeros(len(g) // 2, np.int64), np.ones(len(g) - len(g) // 2, np.int64)] for g in groups]
    return np.concatenate(groups), np.concatenate(binary)


def _cifar_splits(dataset, seed, train_size, test_size, data_dir, download):
    """Class-balanced seeded subsets (all images when a size is None) as [0, 1] floats."""
    data = load_cifar(dataset, data_dir=data_dir, download=download)
    rng = np.random.default_rng(seed)
    train_idx = np.concatenate(_balanced_subset(data.train_y, train_size, rng, "train_size"))
    test_idx = np.concatenate(_balanced_subset(data.test_y, test_size, rng, "test_size"))
    info = {"source": data.source, "dataset": dataset, "classes": list(data.classes)}
    return Splits(_to_unit_float(data.train_x[train_idx]), torch.from_numpy(data.train_y[train_idx]),
                  _to_unit_float(data.test_x[test_idx]), torch.from_numpy(data.test_y[test_idx]),
                  num_classes=data.num_classes, info=info)


def _check_dataset(dataset):
    require(dataset in ("cifar10", "cifar100"), "dataset", dataset, "'cifar10' or 'cifar100'")


def true_labels(*, seed, dataset="cifar10", train_size=None, test_size=None, data_dir=None, download=False):
    """The dataset as it is (optionally a class-balanced subset)."""
    _check_dataset(dataset)
    return _cifar_splits(dataset, seed, train_size, test_size, data_dir, download)


def corrupted_labels(*, seed, p=0.3, corrupt_test=False, dataset="cifar10", train_size=None, test_size=None,
                     data_dir=None, download=False):
    """Each training label, with probability p, replaced by a class drawn uniformly from all classes.

    The draw may return the original class, so about p * (1 - 1/K) of the labels change.
    ``extras["corruption_mask"]`` marks the drawn labels; test labels stay clean unless
    ``corrupt_test``. Both choices and the realised fractions are recorded in ``info``.
    """
    _check_dataset(dataset)
    require(isinstance(p, (int, float)) and 0.0 <= p <= 1.0, "p", p, "a probability in [0, 1]")
    splits = _cifar_splits(dataset, seed, train_size, test_size, data_dir, download)
    generator = torch.Generator().manual_seed(10_000 + seed)
    splits.train_y, mask = _corrupt(splits.train_y, p, splits.num_classes, generator)
    splits.extras["corruption_mask"] = mask
    if corrupt_test:
        splits.test_y, splits.extras["test_corruption_mask"] = _corrupt(splits.test_y, p, splits.num_classes,
                                                                         generator)
    splits.info.update(p=p, corrupt_test=corrupt_test, fraction_drawn=mask.float().mean().item())
    return splits


def _corrupt(labels, p, num_classes, generator):
    mask = torch.rand(len(labels), generator=generator) < p
    drawn = torch.randint(0, num_classes, (len(labels),), generator=generator)
    return torch.where(mask, drawn, labels), mask


def random_labels(*, seed, dataset="cifar10", train_size=None, test_size=None, data_dir=None, download=False):
    """Every training label drawn uniformly from all classes; test labels stay the true ones."""
    return corrupted_labels(seed=seed, p=1.0, dataset=dataset, train_size=train_size, test_size=test_size,
                            data_dir=data_dir, download=download)


PERMUTATION_DOMAINS = ("values", "pixels")


def _permute(x, permutations, domain):
    """Reorder each image by its permutation: of all C*H*W values, or of the H*W pixel positions."""
    batch, channels, height, width = x.shape
    if domain == "values":
        return torch.gather(x.reshape(batch, -1), 1, permutations).reshape(x.shape)
    flat = x.reshape(batch, channels, height * width)
    index = permutations[:, None, :].expand(batch, channels, height * width)
    return torch.gather(flat, 2, index).reshape(x.shape)


def _permutation_size(domain):
    require(domain in PERMUTATION_DOMAINS, "domain", domain, f"one of {PERMUTATION_DOMAINS}")
    return IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2] if domain == "values" else IMAGE_SHAPE[1] * IMAGE_SHAPE[2]


def shuffled_pixels(*, seed, domain="values", dataset="cifar10", train_size=None, test_size=None, data_dir=None,
                    download=False):
    """One fixed random permutation applied to every image, train and test alike.

    ``domain="values"`` permutes all 3,072 values (the paper's range(3072)); ``"pixels"``
    permutes the 1,024 pixel positions and keeps each pixel's three channels together.
    """
    size = _permutation_size(domain)
    splits = _cifar_splits(dataset, seed, train_size, test_size, data_dir, download)
    permutation = torch.randperm(size, generator=torch.Generator().manual_seed(20_000 + seed))
    splits.train_x = _permute(splits.train_x, permutation.expand(len(splits.train_x), size), domain)
    splits.test_x = _permute(splits.test_x, permutation.expand(len(splits.test_x), size), domain)
    splits.extras["permutation"] = permutation
    splits.info.update(domain=domain)
    return splits


def random_pixels(*, seed, domain="values", dataset="cifar10", train_size=None, test_size=None, data_dir=None,
                  download=False):
    """A fresh random permutation for each image (train and test), over ``domain`` as for shuffled_pixels."""
    size = _permutation_size(domain)
    splits = _cifar_splits(dataset, seed, train_size, test_size, data_dir, download)
    generator = torch.Generator().manual_seed(30_000 + seed)
    for split in ("train", "test"):
        x = getattr(splits, f"{split}_x")
        permutations = torch.rand(len(x), size, generator=generator).argsort(dim=1)
        setattr(splits, f"{split}_x", _permute(x, permutations, domain))
    splits.info.update(domain=domain)
    return splits


def gaussian(*, seed, dataset="cifar10", train_size=None, test_size=None, data_dir=None, download=False):
    """Images drawn from a Gaussian with the per-feature mean and variance of the training split.

    Labels stay the dataset's; features are independent (a diagonal covariance).
    """
    splits = _cifar_splits(dataset, seed, train_size, test_size, data_dir, download)
    mean, std = splits.train_x.mean(dim=0), splits.train_x.std(dim=0)
    generator = torch.Generator().manual_seed(40_000 + seed)
    for split in ("train", "test"):
        count = len(getattr(splits, f"{split}_x"))
        setattr(splits, f"{split}_x", mean + std * torch.randn((count, *IMAGE_SHAPE), generator=generator))
    splits.info.update(input="N(mean, var) per feature of the training split")
    return splits


def _to_unit_float(images_uint8):
    return torch.from_numpy(images_uint8).float().div_(255.0)



VARIANTS = {
    "binary_gaussian": binary_gaussian,
    "binary_cifar10": binary_cifar10,
    "true_labels": true_labels,
    "corrupted_labels": corrupted_labels,
    "random_labels": random_labels,
    "shuffled_pixels": shuffled_pixels,
    "random_pixels": random_pixels,
    "gaussian": gaussian,
}


def create_variant(name, *, seed=0, data_dir=None, download=False, **options) -> Splits:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
    unknown = set(options) - set(variant_options(name))
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for variant {name!r}; "
                         f"it takes {sorted(variant_options(name))}")
    return VARIANTS[name](seed=seed, data_dir=data_dir, download=download, **options)



# What each option accepts, checked before any data is read (the variants check data-dependent limits).
OPTION_RULES = {
    "num_train": (lambda v: is_int(v) and v >= 2, "an integer >= 2"),
    "num_test": (lambda v: is_int(v) and v >= 2, "an integer >= 2"),
    "train_size": (lambda v: v is None or (is_int(v) and v >= 2), "None or an integer >= 2"),
    "test_size": (lambda v: v is None or (is_int(v) and v >= 2), "None or an integer >= 2"),
    "p": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v <= 1.0,
          "a probability in [0, 1]"),
    "corrupt_test": (lambda v: isinstance(v, bool), "true or false"),
    "dataset": (lambda v: v in ("cifar10", "cifar100"), "'cifar10' or 'cifar100'"),
    "domain": (lambda v: v in PERMUTATION_DOMAINS, f"one of {PERMUTATION_DOMAINS}"),
}


def check_options(name, options: dict):
    """Refuse unknown options of variant ``name`` and option values outside what they accept."""
    unknown = set(options) - set(variant_options(name))
    if unknown:
        raise ValueError(f"unknown variant option(s) {sorted(unknown)} for {name!r}; "
                         f"it takes {sorted(variant_options(name))}")
    for key, value in options.items():
        accepts, allowed = OPTION_RULES.get(key, (lambda v: True, ""))
        require(accepts(value), f"variant_options.{key}", value, allowed)


def variant_options(name) -> dict:
    """The options variant ``name`` takes beyond seed / data_dir / download, with their defaults."""
    parameters = inspect.signature(VARIANTS[name]).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in ("seed", "data_dir", "download")}


NORMALIZATIONS = ("none", "featurewise")


def normalizer(train_x: torch.Tensor, method: str):
    """The map into the model's input space. ``featurewise``: subtract the per-feature mean and
    divide by the per-feature std of ``train_x`` (each of the 3 x 32 x 32 values is a feature)."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize={method!r} is not allowed: must be one of {NORMALIZATIONS}")
    if method == "none":
        return lambda x: x
    mean = train_x.mean(dim=0, keepdim=True)
    std = train_x.std(dim=0, keepdim=True).clamp_min(1e-6)
    return lambda x: (x - mean) / std


def normalize(splits: Splits, method: str) -> Splits:
    """Both splits mapped by ``normalizer``, with statistics from the training split only."""
    to_model_space = normalizer(splits.train_x, method)
    if method == "none":
        return splits
    return Splits(to_model_space(splits.train_x), splits.train_y, to_model_space(splits.test_x), splits.test_y,
                  splits.num_classes, dict(splits.info, normalize=method), splits.extras)
