"""``rtsu batch --executor slurm`` against a real Slurm (one node on localhost, `scripts/setup_slurm.sh`).

Skipped, with the reason, when there is no Slurm here or its node is not up; never passed silently.
"""

import json
import shutil
import subprocess
import time

import pytest
import yaml

from rtsu_lib import experiment
from rtsu_lib.batch import SlurmExecutor, plan_sweep, run_batch
from rtsu_lib.experiment import RunConfig
from rtsu_lib.results import ResultsStore

TINY = {"variant": "binary_gaussian", "variant_options": {"num_train": 16, "num_test": 8}, "depth": 10,
        "num_epochs": 1, "batch_size": 8, "activation": "relu"}


def slurm_problem() -> str | None:
    """Why Slurm cannot run jobs here, or None when its node is up."""
    if shutil.which("sinfo") is None:
        return "sinfo is not installed (run scripts/setup_slurm.sh as root to set up a local Slurm)"
    try:
        listed = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return f"sinfo failed: {error}"
    states = listed.stdout.split()
    if listed.returncode != 0 or not states:
        return f"no Slurm controller answers: {(listed.stderr or listed.stdout).strip()[:300]}"
    if not any(state.rstrip("*") in ("idle", "mixed", "allocated") for state in states):
        return f"no Slurm node is up (states: {states}); see /var/log/slurm"
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = slurm_problem()
    if problem:
        print(f"\nSKIPPING the Slurm tests: {problem}")
        pytest.skip(problem)


def sweep_units(tmp_path, grid, **fixed):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"fixed": {**TINY, **fixed}, "grid": grid}))
    return plan_sweep(path)


def test_job_array_on_real_slurm_puts_results_in_the_store(slurm, tmp_path):
    store = ResultsStore(tmp_path / "store")
    units = sweep_units(tmp_path, {"seed": [0, 1]})
    executor = SlurmExecutor(tmp_path / "slurm", jobs=2, timeout_min=10, cpus_per_task=1, poll_seconds=1)
    outcomes = run_batch(units, executor, store, retries=0)
    assert sorted(o.status for o in outcomes) == ["done", "done"], [o.note for o in outcomes]
    for unit in units:
        record = store.get(RunConfig.from_dict(unit.spec["config"]))
        assert record["status"] == "done" and len(record["history"]) == 1
        state = json.loads((store.root / "batch" / f"{unit.key}.json").read_text())
        assert state["status"] == "done"
    logs = sorted(path.name for path in (tmp_path / "slurm").glob("*_log.out"))
    assert len(logs) == 2 and logs[0].split("_")[0].isdigit()  # a real array job id: <array>_<task>_0_log.out
    again = run_batch(units, executor, store)
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_a_task_killed_on_slurm_is_reported_and_the_next_batch_resumes_it(slurm, tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "store")
    units = sweep_units(tmp_path, {"seed": [0]}, num_epochs=2, variant_options={"num_train": 24, "num_test": 8})
    executor = SlurmExecutor(tmp_path / "slurm", jobs=1, timeout_min=10, cpus_per_task=1, poll_seconds=1)
    monkeypatch.setenv("RTSU_CRASH_AT", "batch:4")  # sbatch passes the environment on: SIGKILL in epoch 2
    (outcome,) = run_batch(units, executor, store, retries=0)
    assert outcome.status == "failed" and "died" in outcome.note, outcome.note
    config = RunConfig.from_dict(units[0].spec["config"])
    assert store.get(config) is None and store.checkpoint_path(config).exists()

    monkeypatch.delenv("RTSU_CRASH_AT")
    (outcome,) = run_batch(units, executor, store, retries=0)
    assert outcome.status == "done", outcome.note
    assert len(store.get(config)["history"]) == 2
    logs = "".join(path.read_text() for path in (tmp_path / "slurm").glob("*_log.out"))
    assert "resumed from" in logs and "after epoch 1" in logs


@pytest.mark.slow
def test_preempted_task_is_requeued_and_resumes_from_its_checkpoint(slurm, tmp_path):
    store = ResultsStore(tmp_path / "store")
    (unit,) = sweep_units(tmp_path, {"seed": [0]}, num_epochs=6, variant_options={"num_train": 512, "num_test": 8},
                          batch_size=32)
    config = RunConfig.from_dict(unit.spec["config"])
    executor = SlurmExecutor(tmp_path / "slurm", jobs=1, timeout_min=20, cpus_per_task=2, poll_seconds=1)
    (job,) = executor.submit([unit], store.root, 0)
    deadline = time.time() + 300
    while not store.checkpoint_path(config).exists():
        assert time.time() < deadline, "no checkpoint after 300 s"
        time.sleep(0.5)
    job._interrupt()  # what Slurm sends before preempting: submitit checkpoints and requeues the task
    (outcome,) = list(executor.collect([job], [unit]))
    assert outcome.status == "done", outcome.note
    logs = "".join(path.read_text() for path in (tmp_path / "slurm").glob("*_log.*"))
    assert "preempted" in logs and "resumed from" in logs
    expected = experiment.run(config, ResultsStore(tmp_path / "reference"))
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(store.get(config)["history"]) == strip(expected["history"])
