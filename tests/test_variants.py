"""Semantics of every dataset variant, on a small fake CIFAR (fast) unless marked otherwise."""

import numpy as np
import pytest
import torch

from rtsu_lib import variants
from rtsu_lib.datasets import ImageArrays
from rtsu_lib.variants import VARIANTS, create_variant, normalize

CIFAR_VARIANTS = sorted(set(VARIANTS) - {"binary_gaussian"})


@pytest.fixture
def fake_cifar(monkeypatch):
    rng = np.random.default_rng(0)
    data = ImageArrays("cifar10", rng.integers(0, 256, (2000, 3, 32, 32), dtype=np.uint8),
                       np.repeat(np.arange(10), 200), rng.integers(0, 256, (500, 3, 32, 32), dtype=np.uint8),
                       np.repeat(np.arange(10), 50), tuple(f"class{i}" for i in range(10)), source="fake")
    monkeypatch.setattr(variants, "load_cifar", lambda name, **kwargs: data)
    return data


def options(name):
    return {"num_train": 200, "num_test": 50} if name == "binary_gaussian" else {}


@pytest.mark.parametrize("name", sorted(VARIANTS))
class TestEveryVariant:
    def test_shapes_dtypes_and_label_range(self, name, fake_cifar):
        splits = create_variant(name, seed=0, **options(name))
        for x, y in ((splits.train_x, splits.train_y), (splits.test_x, splits.test_y)):
            assert x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32) and len(x) == len(y)
            assert y.dtype == torch.int64 and 0 <= y.min() and y.max() < splits.num_classes
            assert torch.isfinite(x).all()

    def test_same_seed_same_data_other_seed_other_draw(self, name, fake_cifar):
        a, b = (create_variant(name, seed=5, **options(name)) for _ in range(2))
        assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
        assert torch.equal(a.test_x, b.test_x) and torch.equal(a.test_y, b.test_y)
        c = create_variant(name, seed=6, **options(name))
        assert not (torch.equal(a.train_x, c.train_x) and torch.equal(a.train_y, c.train_y))

    def test_does_not_change_the_source_arrays(self, name, fake_cifar):
        before = fake_cifar.train_x.copy()
        create_variant(name, seed=0, **options(name))
        assert np.array_equal(fake_cifar.train_x, before)

    def test_normalisation_keeps_extras(self, name, fake_cifar):
        splits = create_variant(name, seed=0, **options(name))
        assert normalize(splits, "featurewise").extras.keys() == splits.extras.keys()


def test_true_labels_keep_images_and_labels(fake_cifar):
    splits = create_variant("true_labels", seed=0)
    order = splits.train_x.flatten(1)[:, :8].mul(255).round().numpy()
    originals = {tuple(row[:8]): label for row, label in
                 zip(fake_cifar.train_x.reshape(2000, -1).astype(np.float32), fake_cifar.train_y)}
    assert all(originals[tuple(row)] == label for row, label in zip(order, splits.train_y.tolist()))


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_corruption_changes_about_p_times_one_minus_one_over_k(p, fake_cifar):
    splits = create_variant("corrupted_labels", seed=0, p=p)
    clean = create_variant("true_labels", seed=0)
    changed = (splits.train_y != clean.train_y).float().mean().item()
    assert changed == pytest.approx(p * (1 - 1 / 10), abs=0.03)
    mask = splits.extras["corruption_mask"]
    assert mask.float().mean().item() == pytest.approx(p, abs=0.035)
    assert torch.equal(splits.train_y[~mask], clean.train_y[~mask])  # only drawn labels may differ
    assert torch.equal(splits.test_y, clean.test_y) and splits.info["corrupt_test"] is False
    assert torch.equal(splits.train_x, clean.train_x)


def test_corrupting_test_labels_is_a_recorded_choice(fake_cifar):
    splits = create_variant("corrupted_labels", seed=0, p=0.5, corrupt_test=True)
    clean = create_variant("true_labels", seed=0)
    assert (splits.test_y != clean.test_y).any() and splits.info["corrupt_test"] is True


def test_random_labels_are_uniform_and_unrelated(fake_cifar):
    splits = create_variant("random_labels", seed=0)
    clean = create_variant("true_labels", seed=0)
    counts = splits.train_y.bincount(minlength=10)
    assert counts.min() > 140 and counts.max() < 260
    assert (splits.train_y == clean.train_y).float().mean().item() == pytest.approx(0.1, abs=0.03)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "high"])
def test_corruption_probability_outside_0_1_is_named(bad, fake_cifar):
    with pytest.raises(ValueError, match="p=.* must be a probability in \\[0, 1\\]"):
        create_variant("corrupted_labels", seed=0, p=bad)


@pytest.mark.parametrize("domain,size", [("values", 3072), ("pixels", 1024)])
def test_shuffled_pixels_use_one_permutation_for_train_and_test(domain, size, fake_cifar):
    splits = create_variant("shuffled_pixels", seed=0, domain=domain)
    clean = create_variant("true_labels", seed=0)
    permutation = splits.extras["permutation"]
    assert sorted(permutation.tolist()) == list(range(size))  # a bijection
    for shuffled, original in ((splits.train_x, clean.train_x), (splits.test_x, clean.test_x)):
        flat = original.reshape(len(original), -1) if domain == "values" else original.reshape(len(original), 3, -1)
        expected = flat[..., permutation].reshape(original.shape)
        assert torch.equal(shuffled, expected)
    assert torch.equal(splits.train_y, clean.train_y)


@pytest.mark.parametrize("domain", ["values", "pixels"])
def test_random_pixels_draw_a_permutation_per_image_and_keep_the_values(domain, fake_cifar):
    splits = create_variant("random_pixels", seed=0, domain=domain)
    clean = create_variant("true_labels", seed=0)
    a, b = splits.train_x, clean.train_x
    assert torch.equal(a.flatten(1).sort(1).values, b.flatten(1).sort(1).values)  # same multiset per image
    if domain == "pixels":  # each pixel's three channels move together
        pixels_a = a.reshape(len(a), 3, -1).transpose(1, 2)
        pixels_b = b.reshape(len(b), 3, -1).transpose(1, 2)
        key = lambda p: sorted(map(tuple, p.tolist()))  # noqa: E731
        assert key(pixels_a[0]) == key(pixels_b[0])
    # two images with one permutation would map position 0 to the same source; count distinct sources
    sources = [int((b[i].flatten() == a[i].flatten()[0]).nonzero()[0]) for i in range(20)]
    assert len(set(sources)) > 5


def test_shuffled_pixels_rejects_an_unknown_domain(fake_cifar):
    with pytest.raises(ValueError, match="domain='rows'"):
        create_variant("shuffled_pixels", seed=0, domain="rows")


def test_gaussian_matches_the_training_statistics_and_keeps_labels(fake_cifar):
    splits = create_variant("gaussian", seed=0)
    clean = create_variant("true_labels", seed=0)
    torch.testing.assert_close(splits.train_x.mean(0), clean.train_x.mean(0), atol=0.03, rtol=0)
    torch.testing.assert_close(splits.train_x.std(0), clean.train_x.std(0), atol=0.03, rtol=0)
    assert torch.equal(splits.train_y, clean.train_y)
    assert not torch.equal(splits.test_x[:5], splits.train_x[:5])


def test_subsets_are_class_balanced(fake_cifar):
    splits = create_variant("true_labels", seed=0, train_size=500, test_size=100)
    assert splits.train_y.bincount().tolist() == [50] * 10 and splits.test_y.bincount().tolist() == [10] * 10
