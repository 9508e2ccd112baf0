"""The results store: one JSON file per run, keyed by a hash of the run's full configuration.

Layout under the store's root (``$RTSU_RESULTS_DIR``, default ``results/`` in the project):
``runs/<key>.json`` for finished runs, ``models/<key>.pt`` for their final weights,
``checkpoints/<key>.pt`` for runs in progress, ``evaluations/<name>.json`` for measurements
made on trained models, ``batch/<key>.json`` for the state of each unit of a batch (see
``rtsu_lib.batch``) and ``locks/<key>.lock`` for the locks that keep two processes from
training the same run at once. Files are written atomically, so a reader sees a whole file or none;
a run's weights are written before its record, so a record always has its weights.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import __version__
from .datasets import PROJECT_ROOT
from .storage import atomic_write, read_json, write_json

log = logging.getLogger(__name__)

# Bump when a change to the library changes what a given config produces.
RESULTS_SCHEMA = 1


def default_results_dir() -> Path:
    return Path(os.environ.get("RTSU_RESULTS_DIR", PROJECT_ROOT / "results")).expanduser()


class ResultsStore:
    def __init__(self, root=None):
        self.root = Path(root) if root else default_results_dir()

    @staticmethod
    def key(config) -> str:
        canonical = json.dumps({"schema": RESULTS_SCHEMA, "config": config.to_dict()}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:20]

    def run_path(self, config) -> Path:
        return self.root / "runs" / f"{self.key(config)}.json"

    def checkpoint_path(self, config) -> Path:
        return self.root / "checkpoints" / f"{self.key(config)}.pt"

    def get(self, config) -> dict | None:
        path = self.run_path(config)
        if not path.exists():
            return None
        try:
            record = read_json(path)
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable result %s (%s); the run will be redone", path, error)
            return None
        if record.get("config") != config.to_dict():
            log.warning("result %s holds another config (hash collision or edited file); ignoring it", path)
            return None
        return record

    def weights_path(self, config) -> Path:
        return self.root / "models" / f"{self.key(config)}.pt"

    def put(self, config, record: dict, weights: dict | None = None):
        if weights is not None:
            with atomic_write(self.weights_path(config), "wb") as stream:
                torch.save(weights, stream)
        write_json(self.run_path(config), record)
        self.checkpoint_path(config).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, key: str):
        """Hold an exclusive lock on ``key`` (a run's or a batch unit's key) while the block runs.

        A ``flock`` on ``locks/<key>.lock``: another process that asks for the same key waits; the
        kernel releases it when its holder exits, even by SIGKILL, so a crash leaves no stale lock.
        """
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load_weights(self, config) -> dict:
        path = self.weights_path(config)
        if not path.exists():
            raise FileNotFoundError(f"no stored weights for run {self.key(config)} at {path}; "
                                    f"delete {self.run_path(config)} to train it again")
        return torch.load(path, map_location="cpu", weights_only=True)

    def evaluation_path(self, name: str) -> Path:
        return self.root / "evaluations" / f"{name}.json"

    def records(self) -> list[dict]:
        """Every readable record in the store."""
        found = []
        for path in sorted((self.root / "runs").glob("*.json")):
            try:
                found.append(read_json(path))
            except (OSError, ValueError):
                log.warning("skipping unreadable result %s", path)
        return found


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def provenance(*, seed, device, wall_seconds, **extra) -> dict:
    device = torch.device(device)
    return {
        "library_version": __version__,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
        or platform.machine(),
        "num_threads": torch.get_num_threads(),
        "python_version": platform.python_version(),
        "host": socket.gethostname(),
        "seed": seed,
        "wall_seconds": wall_seconds,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }
