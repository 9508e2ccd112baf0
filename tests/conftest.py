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
