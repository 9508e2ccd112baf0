"""Crash-safe file writes: a file is either its old complete self or its new complete self."""

import contextlib
import json
import os
import tempfile
from pathlib import Path

from .faults import crash_point


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A crash at any point leaves ``path`` untouched (or absent); the temporary file is
    removed on error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
            crash_point(f"write:{path.parent.name}")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path):
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path, data):
    with atomic_write(path, "w") as stream:
        json.dump(data, stream, indent=1, sort_keys=True, allow_nan=False)
        stream.write("\n")


def read_json(path):
    with open(path) as stream:
        return json.load(stream)
