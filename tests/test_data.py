import hashlib
import io
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from rtsu_lib import datasets
from rtsu_lib.datasets import CorruptDataError, DatasetNotFoundError, load_cifar
from rtsu_lib.variants import VARIANTS, _halve_each_class, create_variant, normalize, variant_options


def write_fake_archive(folder, name="cifar10", per_class=2, classes=("airplane", "automobile")):
    """A tiny image-folder archive in the layout of ../shared/data, with its .sha256 file."""
    rng = np.random.default_rng(0)
    archive = folder / f"{name}-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            for cls in classes:
                for i in range(per_class):
                    buffer = io.BytesIO()
                    pixels = np.full((32, 32, 3), 40 * classes.index(cls) + 10 * i, np.uint8)
                    pixels[0, 0] = rng.integers(0, 255, 3)
                    Image.fromarray(pixels).save(buffer, format="PNG")  # lossless, so pixels are exact
                    info = tarfile.TarInfo(f"{name}-jpeg/{split}/{cls}/{i:04d}.jpg")
                    info.size = buffer.tell()
                    buffer.seek(0)
                    tar.addfile(info, buffer)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (folder / f"{archive.name}.sha256").write_text(f"{digest}  {archive.name}\n")
    return archive


def test_archive_is_decoded_in_label_order_and_cached(tmp_path):
    write_fake_archive(tmp_path)
    cache = tmp_path / "cache"
    data = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    assert data.train_x.shape == (4, 3, 32, 32) and data.train_x.dtype == np.uint8
    assert data.train_y.tolist() == [0, 0, 1, 1]
    assert data.classes[:2] == ("airplane", "automobile")
    assert data.train_x[3, 0, 5, 5] == 50  # class 1, image 1
    assert len(list(cache.glob("*.npz"))) == 1
    again = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    assert np.array_equal(again.train_x, data.train_x)


def test_missing_dataset_names_the_places_and_the_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_cifar("cifar100", data_dir=tmp_path, cache_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "cifar100-jpeg.tar.gz") in message
    assert str(tmp_path / "cifar-100-python") in message
    assert "RTSU_DATA_DIR" in message and "download=True" in message


def test_truncated_archive_is_reported_with_its_path(tmp_path):
    archive = write_fake_archive(tmp_path)
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match=str(archive)):
        load_cifar("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.npz")) if (tmp_path / "cache").exists() else True


def test_corrupt_archive_without_checksum_is_reported(tmp_path):
    archive = write_fake_archive(tmp_path)
    (tmp_path / f"{archive.name}.sha256").unlink()
    archive.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    with pytest.raises(CorruptDataError, match="cannot read"):
        load_cifar("cifar10", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_corrupt_cache_is_rebuilt_not_trusted(tmp_path):
    write_fake_archive(tmp_path)
    cache = tmp_path / "cache"
    good = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    (cache_file,) = cache.glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:200])
    with pytest.warns(UserWarning, match="unreadable cache"):
        rebuilt = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    assert np.array_equal(rebuilt.train_x, good.train_x)


def test_torchvision_format_is_read(tmp_path, monkeypatch):
    import pickle

    from torchvision.datasets import CIFAR10

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for file_name, _ in CIFAR10.train_list + CIFAR10.test_list:
        batch = {"data": rng.integers(0, 255, (3, 3072), dtype=np.uint8), "labels": [1, 2, 3]}
        (folder / file_name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(datasets.CIFAR10_CLASSES)}))
    # the fake files cannot match torchvision's md5 sums
    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args: True)
    data = load_cifar("cifar10", data_dir=tmp_path, cache_dir=tmp_path)
    assert data.train_x.shape == (15, 3, 32, 32) and data.test_x.shape == (3, 3, 32, 32)
    assert data.train_y.tolist() == [1, 2, 3] * 5


def test_real_cifar10_has_the_documented_shape(cifar10):
    assert cifar10.train_x.shape == (50000, 3, 32, 32) and cifar10.test_x.shape == (10000, 3, 32, 32)
    assert np.bincount(cifar10.train_y).tolist() == [5000] * 10
    mean = cifar10.test_x.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(mean, [0.4941, 0.4851, 0.4504], atol=2e-4)  # shared/data/README.md


# --- variants -------------------------------------------------------------------------------------

def test_every_variant_declares_its_options():
    for name in VARIANTS:
        assert isinstance(variant_options(name), dict)


def test_binary_gaussian_is_balanced_and_its_test_set_independent():
    splits = create_variant("binary_gaussian", seed=0, num_train=1000, num_test=400)
    assert splits.train_x.shape == (1000, 3, 32, 32) and splits.test_x.shape == (400, 3, 32, 32)
    assert splits.train_y.bincount().tolist() == [500, 500]
    assert splits.test_y.bincount().tolist() == [200, 200]
    assert abs(splits.train_x.mean().item()) < 0.01 and abs(splits.train_x.std().item() - 1) < 0.01
    # no test point equals a training point, and the two label sequences are not the same draw
    assert torch.cdist(splits.test_x[:50].flatten(1), splits.train_x.flatten(1)).min() > 10
    assert not torch.equal(splits.train_y[:400], splits.test_y)


def test_binary_gaussian_same_seed_same_data():
    a = create_variant("binary_gaussian", seed=3, num_train=10, num_test=4)
    b = create_variant("binary_gaussian", seed=3, num_train=10, num_test=4)
    c = create_variant("binary_gaussian", seed=4, num_train=10, num_test=4)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)


@pytest.mark.parametrize("bad", [{"num_train": 1}, {"num_train": 10, "num_test": 0}])
def test_binary_gaussian_rejects_too_few_points(bad):
    with pytest.raises(ValueError, match="must be an integer >= 2"):
        create_variant("binary_gaussian", seed=0, **bad)


def test_unknown_variant_and_option_are_named():
    with pytest.raises(ValueError, match="unknown variant 'mnist'"):
        create_variant("mnist")
    with pytest.raises(ValueError, match="unknown option.*'n_train'"):
        create_variant("binary_gaussian", n_train=10)


def test_binary_cifar10_halves_every_class(cifar10):
    rng = np.random.default_rng(0)
    indices, binary = _halve_each_class(cifar10.train_y, 2000, rng, "train_size")
    for cls in range(10):
        labels = binary[cifar10.train_y[indices] == cls]
        assert len(labels) == 200 and labels.sum() == 100
    splits = create_variant("binary_cifar10", seed=0, train_size=2000, test_size=1000)
    assert len(splits.train_y) == 2000 and len(splits.test_y) == 1000
    assert splits.train_x.min() >= 0 and splits.train_x.max() <= 1
    assert splits.train_y.bincount().tolist() == [1000, 1000]
    assert torch.equal(splits.train_y, torch.from_numpy(binary))
    expected = torch.from_numpy(cifar10.train_x[indices]).float() / 255
    torch.testing.assert_close(splits.train_x, expected)


def test_binary_cifar10_test_split_is_halved_the_same_way(cifar10):
    splits = create_variant("binary_cifar10", seed=0, train_size=200, test_size=1000)
    assert splits.test_y.bincount().tolist() == [500, 500]


def test_binary_cifar10_split_depends_on_seed(cifar10):
    a = create_variant("binary_cifar10", seed=0, train_size=200, test_size=100)
    b = create_variant("binary_cifar10", seed=1, train_size=200, test_size=100)
    assert not torch.equal(a.train_x, b.train_x)
    a_again = create_variant("binary_cifar10", seed=0, train_size=200, test_size=100)
    assert torch.equal(a.train_x, a_again.train_x) and torch.equal(a.train_y, a_again.train_y)


def test_binary_cifar10_rejects_unbalanced_sizes(cifar10):
    with pytest.raises(ValueError, match="train_size=205"):
        create_variant("binary_cifar10", seed=0, train_size=205)


def test_featurewise_statistics_come_from_training_data_only():
    splits = create_variant("binary_gaussian", seed=0, num_train=500, num_test=300)
    shifted = type(splits)(splits.train_x, splits.train_y, splits.test_x * 3 + 5, splits.test_y, 2)
    normed = normalize(shifted, "featurewise")
    torch.testing.assert_close(normed.train_x.mean(0), torch.zeros(3, 32, 32), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.train_x.std(0), torch.ones(3, 32, 32), atol=1e-5, rtol=0)
    mean, std = splits.train_x.mean(0), splits.train_x.std(0)
    torch.testing.assert_close(normed.test_x, (shifted.test_x - mean) / std)
    assert normed.test_x.mean() > 4  # the test set's own statistics were not used
    assert normalize(splits, "none") is splits
    with pytest.raises(ValueError, match="normalize='zca'"):
        normalize(splits, "zca")


def test_corrupt_torchvision_folder_is_reported(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(CorruptDataError, match="cifar-10-batches-py"):
        load_cifar("cifar10", data_dir=tmp_path, cache_dir=tmp_path)
