"""CIFAR-10 and CIFAR-100 as uint8 arrays, from whichever source is at hand.

Sources, tried in order for each data folder:
  1. an image-folder archive ``cifar10-jpeg.tar.gz`` / ``cifar100-jpeg.tar.gz``
     (``<name>-jpeg/{train,test}/<class>/<NNNN>.jpg``), checked against its ``.sha256`` file;
  2. torchvision's own on-disk format (``cifar-10-batches-py`` / ``cifar-100-python``).
Data folders: the ``data_dir`` argument, else ``$RTSU_DATA_DIR``, else ``../shared/data`` and
``data/`` beside the project. With ``download=True`` torchvision downloads into the first
folder when nothing is found. Decoded archives are cached as ``.npz`` under
``$RTSU_CACHE_DIR`` (default ``~/.cache/rtsu_lib``), keyed by the archive's checksum.
Images are returned as (N, 3, 32, 32) uint8, labels as int64.
"""

import csv
import hashlib
import io
import logging
import os
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .storage import atomic_write

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


class DatasetNotFoundError(FileNotFoundError):
    pass


class CorruptDataError(ValueError):
    pass


@dataclass(frozen=True)
class ImageArrays:
    """A dataset's train and test splits as uint8 (N, 3, 32, 32) images and int64 labels."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple
    source: str

    @property
    def num_classes(self):
        return len(self.classes)


def default_data_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("RTSU_DATA_DIR"):
        dirs.append(Path(os.environ["RTSU_DATA_DIR"]).expanduser())
    dirs += [PROJECT_ROOT.parent / "shared" / "data", PROJECT_ROOT / "data"]
    return dirs


def default_cache_dir() -> Path:
    return Path(os.environ.get("RTSU_CACHE_DIR", Path.home() / ".cache" / "rtsu_lib")).expanduser()


def load_cifar(name: str, data_dir=None, download: bool = False, cache_dir=None) -> ImageArrays:
    """Load ``cifar10`` or ``cifar100``; see the module docstring for where it looks."""
    if name not in NUM_CLASSES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(NUM_CLASSES)}")
    dirs = [Path(data_dir).expanduser()] if data_dir else default_data_dirs()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    looked_at = []
    for folder in dirs:
        archive = folder / f"{name}-jpeg.tar.gz"
        looked_at.append(archive)
        if archive.is_file():
            return _load_archive(name, archive, cache_dir)
        torchvision_dir = folder / TORCHVISION_FOLDERS[name]
        looked_at.append(torchvision_dir)
        if torchvision_dir.is_dir():
            return _load_torchvision(name, folder, download=False)
    if download:
        return _load_torchvision(name, dirs[0], download=True)
    places = "\n  ".join(str(path) for path in looked_at)
    raise DatasetNotFoundError(
        f"{name} not found. Looked for:\n  {places}\n"
        f"Provide it by one of: put {name}-jpeg.tar.gz (with its .sha256) or torchvision's "
        f"{TORCHVISION_FOLDERS[name]}/ in a folder and set RTSU_DATA_DIR=<folder> (or pass data_dir); "
        f"or, on a machine with internet, pass download=True."
    )


def _load_archive(name, archive: Path, cache_dir: Path) -> ImageArrays:
    digest = _verified_sha256(archive)
    cache_file = cache_dir / f"{name}-{digest[:16]}.npz"
    cached = _read_cache(cache_file)
    if cached is None:
        log.info("decoding %s (once; cached at %s)", archive, cache_file)
        cached = _decode_archive(name, archive)
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache_file, "wb") as handle:
            np.savez(handle, **cached)
    classes = tuple(str(c) for c in cached["classes"])
    return ImageArrays(name, cached["train_x"], cached["train_y"], cached["test_x"], cached["test_y"],
                       classes, source=str(archive))


def _verified_sha256(archive: Path) -> str:
    hasher = hashlib.sha256()
    with open(archive, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    digest = hasher.hexdigest()
    checksum_file = archive.with_name(archive.name + ".sha256")
    if checksum_file.is_file():
        expected = checksum_file.read_text().split()[0].strip().lower()
        if expected != digest:
            raise CorruptDataError(
                f"{archive} is corrupt or truncated: its sha256 is {digest}, {checksum_file} says {expected}. "
                f"Replace the archive with a good copy."
            )
    return digest


CACHE_KEYS = ("train_x", "train_y", "test_x", "test_y", "classes")


def _read_cache(cache_file: Path):
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in CACHE_KEYS}
        _check_arrays(arrays)
        return arrays
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        warnings.warn(f"ignoring unreadable cache file {cache_file} ({error}); decoding the archive again")
        cache_file.unlink(missing_ok=True)
        return None


def _check_arrays(arrays):
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (3, 32, 32) or len(x) != len(y):
            raise ValueError(f"{split} arrays have shape {x.shape} / {y.shape}, dtype {x.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= len(arrays["classes"])):
            raise ValueError(f"{split} labels outside [0, {len(arrays['classes'])})")


def _class_names(name, archive: Path):
    if name == "cifar10":
        return CIFAR10_CLASSES
    csv_file = archive.with_name("cifar100-classes.csv")
    if csv_file.is_file():
        with open(csv_file, newline="") as handle:
            rows = sorted(csv.DictReader(handle), key=lambda row: int(row["fine_label"]))
        return tuple(row["fine_name"] for row in rows)
    return None  # alphabetical folder names are the standard fine-label order


def _decode_archive(name, archive: Path):
    from PIL import Image

    images = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 4 or parts[1] not in images:
                    continue
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as image:
                    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
                images[parts[1]].append((parts[2], parts[3], pixels))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise CorruptDataError(f"cannot read {archive}: {error}. Replace the archive with a good copy.") from error

    classes = _class_names(name, archive) or tuple(sorted({entry[0] for entry in images["train"]}))
    index = {cls: i for i, cls in enumerate(classes)}
    arrays = {"classes": np.array(classes)}
    for split, entries in images.items():
        entries.sort(key=lambda entry: (index[entry[0]], entry[1]))
        arrays[f"{split}_x"] = np.stack([entry[2] for entry in entries]).transpose(0, 3, 1, 2).copy()
        arrays[f"{split}_y"] = np.array([index[entry[0]] for entry in entries], dtype=np.int64)
    _check_arrays(arrays)
    return arrays


def _load_torchvision(name, root: Path, download: bool) -> ImageArrays:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        splits = [cls(str(root), train=train, download=download) for train in (True, False)]
    except RuntimeError as error:  # torchvision's word for missing or corrupt files
        raise CorruptDataError(
            f"{root / TORCHVISION_FOLDERS[name]} is incomplete or corrupt ({error}). "
            f"Delete it and provide the data again (or pass download=True on a machine with internet)."
        ) from error
    x = [np.ascontiguousarray(split.data.transpose(0, 3, 1, 2)) for split in splits]
    y = [np.asarray(split.targets, dtype=np.int64) for split in splits]
    return ImageArrays(name, x[0], y[0], x[1], y[1], tuple(splits[0].classes), source=str(root))
