import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rtsu_lib.datasets import DatasetNotFoundError, load_cifar


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def cifar10():
    """The real CIFAR-10 (from ../shared/data or $RTSU_DATA_DIR); skipped, with the reason, when absent."""
    try:
        return load_cifar("cifar10")
    except DatasetNotFoundError as error:
        pytest.skip(f"CIFAR-10 is not available here: {error}")


ROOT = Path(__file__).resolve().parents[1]
RTSU = [sys.executable, "-m", "rtsu_lib.cli"]


def copy_project(folder: Path) -> dict:
    """The book's sources, profiles and config in ``folder``; returns an environment with its own results."""
    built = shutil.ignore_patterns("executed", "_build", "offline")
    shutil.copytree(ROOT / "book", folder / "book", ignore=built)
    shutil.copytree(ROOT / "params", folder / "params")
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    return dict(os.environ, RTSU_RESULTS_DIR=str(folder / "results"))


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """The book built once per session at the smoke profile, in a scratch copy: (folder, env, process)."""
    folder = tmp_path_factory.mktemp("smoke_book")
    env = copy_project(folder)
    try:  # about 5 minutes on 2 idle cores; a shared, loaded machine can take three times that
        done = subprocess.run(RTSU + ["--project-dir", str(folder), "book", "--profile", "smoke"], env=env,
                              capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the smoke book did not build within {error.timeout} s")
    return folder, env, done
