"""``rtsu batch``: planning and checks, skip / retry / failure / divergence, notebooks that raise,
the submitit path (in-process), SIGKILL at chosen points then resume, and two batches at once."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import yaml

from rtsu_lib import batch, cli, experiment
from rtsu_lib.batch import LocalExecutor, Outcome, SlurmExecutor, Unit, plan_profile, plan_sweep, run_batch
from rtsu_lib.cli import Project, ProfileError
from rtsu_lib.experiment import RunConfig
from rtsu_lib.results import ResultsStore

ROOT = Path(__file__).resolve().parents[1]
TINY = {"variant": "binary_gaussian", "variant_options": {"num_train": 16, "num_test": 8}, "depth": 10,
        "num_epochs": 1, "batch_size": 8, "activation": "relu"}


def write_sweep(folder, fixed=None, grid=None, name="sweep.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump({"fixed": {**TINY, **(fixed or {})}, "grid": grid or {"seed": [0, 1]}}))
    return path


def units_of(sweep_file):
    return plan_sweep(sweep_file)


# --- planning and bad input: refused before anything runs, nothing written -------------------------

def test_sweep_grid_is_the_product_of_its_lists(tmp_path):
    units = plan_sweep(write_sweep(tmp_path, grid={"seed": [0, 1, 2], "activation": ["relu", "rtsu"],
                                                   "variant_options.num_train": [16, 32]}))
    assert len(units) == 12 and len({unit.key for unit in units}) == 12
    configs = [RunConfig.from_dict(unit.spec["config"]) for unit in units]
    assert {c.variant_options["num_train"] for c in configs} == {16, 32}
    assert all(c.variant_options["num_test"] == 8 for c in configs)  # fixed options are kept
    assert units[0].key == ResultsStore.key(configs[0])


def test_example_sweep_is_valid():
    assert len(plan_sweep(ROOT / "sweeps" / "example.yaml")) == 8


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_profile_passes_the_checks(profile, tmp_path):
    units = plan_profile(Project(ROOT), profile, store=ResultsStore(tmp_path / "store"))
    assert units and units[-1].runs_last and not (tmp_path / "store").exists()


@pytest.mark.parametrize("grid,message", [
    ({"learning_rate": [0.1]}, r"unknown run parameter 'learning_rate'; allowed: .*'lr'"),
    ({"lr": [0.1, 0.0]}, r"lr=0.0 is not allowed: must be > 0"),
    ({"lr": [-1]}, r"lr=-1 is not allowed: must be > 0"),
    ({"batch_size": [0]}, r"batch_size=0 is not allowed: must be >= 1"),
    ({"variant_options.num_train": [1]}, r"variant_options.num_train=1 is not allowed: must be an integer >= 2"),
    ({"activation": ["gelu"]}, r"activation='gelu' is not allowed: must be one of \['brelu', 'crelu'"),
    ({"model": ["vit"]}, r"model='vit' is not allowed: must be one of"),
    ({"variant": ["mnist"]}, r"variant='mnist' is not allowed: must be one of"),
    ({"lr": ["0.1"]}, r"lr='0.1' has type str; expected float"),
    ({"num_epochs": [2.5]}, r"num_epochs=2.5 has type float; expected int"),
    ({"seed": 3}, r"grid.seed=3 is not allowed: must be a non-empty list"),
])
def test_bad_sweep_values_are_named_and_nothing_is_written(tmp_path, grid, message):
    with pytest.raises(ProfileError, match=message):
        plan_sweep(write_sweep(tmp_path, grid=grid))


def test_probability_outside_0_1_is_refused(tmp_path):
    sweep = tmp_path / "p.yaml"
    sweep.write_text(yaml.safe_dump({"fixed": {"variant": "corrupted_labels"}, "grid": {"variant_options.p": [0.5, 1.5]}}))
    with pytest.raises(ProfileError, match=r"variant_options.p=1.5 is not allowed: must be a probability in \[0, 1\]"):
        plan_sweep(sweep)


def test_missing_sweep_file_is_named(tmp_path):
    with pytest.raises(ProfileError, match="sweep file .*nope.yaml does not exist"):
        plan_sweep(tmp_path / "nope.yaml")


def test_sweep_yaml_is_read_safely(tmp_path):
    sweep = tmp_path / "evil.yaml"
    sweep.write_text("fixed: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        plan_sweep(sweep)
    assert not Path("pwned").exists()


@pytest.fixture
def project_copy(tmp_path):
    shutil.copytree(ROOT / "book", tmp_path / "book", ignore=shutil.ignore_patterns("executed", "_build"))
    shutil.copytree(ROOT / "params", tmp_path / "params")
    return Project(tmp_path)


@pytest.mark.parametrize("values,message", [
    ({"lr": 0.0}, r"lr=0.0 is not allowed"),
    ({"lr": "fast"}, r"lr='fast' has type str; the notebook expects float"),
    ({"batch_size": 0}, r"batch_size=0 is not allowed"),
    ({"sizes": [256, 1]}, r"sizes=1 is not allowed: must be an integer >= 2"),
    ({"activation": "gelu"}, r"activation='gelu' is not allowed"),
    ({"seeds": []}, r"seeds=\[\] is not allowed: must be a non-empty list"),
    ({"learning_rate": 0.1}, r"unknown parameter\(s\) \['learning_rate'\]"),
])
def test_bad_profile_values_stop_the_batch_before_anything_runs(project_copy, values, message, tmp_path,
                                                                   capsys):
    params = project_copy.params / "smoke" / "fig3_gaussian.yaml"
    params.write_text(yaml.safe_dump({**yaml.safe_load(params.read_text()), **values}))
    store = tmp_path / "store"
    status = cli.main(["--project-dir", str(project_copy.root), "batch", "--profile", "smoke", "--results-dir",
                       str(store)])
    stderr = capsys.readouterr().err
    assert status == 2 and "fig3_gaussian.yaml" in stderr and re.search(message, stderr), stderr
    assert not store.exists() and not (project_copy.root / "book" / "executed").exists()


@pytest.mark.parametrize("name,good,message", [("transforms", "flip", "transforms='warp' is not allowed"),
                                                ("variants", "gaussian", "variants: variant='warp' is not allowed")])
def test_unknown_registry_names_in_a_profile_are_refused(project_copy, name, good, message):
    params = project_copy.params / "smoke" / "fig6_11_generating_functions.yaml"
    params.write_text(yaml.safe_dump({**yaml.safe_load(params.read_text()), name: [good, "warp"]}))
    with pytest.raises(ProfileError, match=rf"{message}: must be one of"):
        plan_profile(project_copy, "smoke", ["fig6_11_generating_functions"])


def test_parameters_reach_notebooks_only_as_literals():
    from papermill.translators import PythonTranslator

    with pytest.raises(TypeError, match="must be plain literals"):
        batch.check_literal("lr", object())
    with pytest.raises(ValueError, match="a finite number"):
        batch.check_literal("lr", float("nan"))
    tricky = 'x"); import os; os.system("touch pwned") #\\'
    code = PythonTranslator().codify({"profile": tricky})
    namespace = {}
    exec(code, namespace)  # what the injected cell does
    assert namespace["profile"] == tricky and not Path("pwned").exists()


# --- running units --------------------------------------------------------------------------------

def test_sweep_runs_then_is_skipped_and_dry_run_says_so(tmp_path, capsys):
    store = ResultsStore(tmp_path / "store")
    units = units_of(write_sweep(tmp_path))
    assert all("to run" in line for line in batch.dry_run_lines(units, store))
    assert not store.root.exists()  # a dry run writes nothing

    outcomes = run_batch(units, LocalExecutor(1), store)
    assert [o.status for o in outcomes] == ["done", "done"]
    for unit in units:
        assert json.loads((store.root / "batch" / f"{unit.key}.json").read_text())["status"] == "done"
        assert store.get(RunConfig.from_dict(unit.spec["config"]))["status"] == "done"
    assert all("done, skipped" in line for line in batch.dry_run_lines(units, store))
    again = run_batch(units, LocalExecutor(1), store)
    assert [o.status for o in again] == ["skipped", "skipped"]
    table = batch.summary_table(outcomes + again)
    assert "4 units: 2 done, 2 skipped, 0 diverged, 0 failed" in table


def test_failing_unit_is_retried_then_recorded_with_traceback_and_the_batch_goes_on(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "store")
    bad, good = units_of(write_sweep(tmp_path))
    real = experiment.run_and_tell
    calls = []

    def flaky(config, store, **options):
        calls.append(store.key(config))
        if store.key(config) == bad.key:
            raise RuntimeError("out of cheese")
        return real(config, store, **options)

    monkeypatch.setattr(batch, "run_and_tell", flaky)
    outcomes = run_batch([bad, good], LocalExecutor(1), store, retries=2)
    assert [(o.status, o.attempts) for o in outcomes] == [("failed", 3), ("done", 1)]
    assert calls.count(bad.key) == 3
    state = json.loads((store.root / "batch" / f"{bad.key}.json").read_text())
    assert state["status"] == "failed" and "out of cheese" in state["note"]
    assert "Traceback" in state["traceback"] and "RuntimeError: out of cheese" in state["traceback"]
    assert store.get(RunConfig.from_dict(bad.spec["config"])) is None  # a failure is not a result
    assert "failed" in batch.dry_run_lines([bad], store)[0]


def test_unit_that_fails_once_succeeds_on_retry(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "store")
    (unit,) = units_of(write_sweep(tmp_path, grid={"seed": [0]}))
    real, failures = experiment.run_and_tell, []

    def once(config, store, **options):
        if not failures:
            failures.append(1)
            raise OSError("disk hiccup")
        return real(config, store, **options)

    monkeypatch.setattr(batch, "run_and_tell", once)
    (outcome,) = run_batch([unit], LocalExecutor(1), store, retries=1)
    assert (outcome.status, outcome.attempts) == ("done", 2)


def test_diverging_run_is_recorded_at_its_epoch_not_counted_and_the_batch_goes_on(tmp_path):
    store = ResultsStore(tmp_path / "store")
    units = units_of(write_sweep(tmp_path, fixed={"num_epochs": 3, "batch_size": 8},
                                 grid={"lr": [1e9, 0.05]}))
    outcomes = run_batch(units, LocalExecutor(1), store)
    assert [o.status for o in outcomes] == ["diverged", "done"]
    assert outcomes[0].note.startswith("at epoch ")
    record = store.get(RunConfig.from_dict(units[0].spec["config"]))
    assert record["status"] == "diverged" and record["diverged_epoch"] >= 1
    assert not store.weights_path(RunConfig.from_dict(units[0].spec["config"])).exists()
    # notebooks read results through run_all and keep only the done ones
    assert [r["status"] for r in experiment.run_all([RunConfig.from_dict(u.spec["config"]) for u in units],
                                                     store)] == ["diverged", "done"]
    assert batch.counts(outcomes) == {"done": 1, "skipped": 0, "diverged": 1, "failed": 0}


def test_missing_dataset_fails_the_unit_with_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("RTSU_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setattr("rtsu_lib.datasets.default_data_dirs", lambda: [tmp_path / "no-data"])
    store = ResultsStore(tmp_path / "store")
    (cifar,) = plan_sweep(write_sweep(tmp_path, fixed={"variant": "binary_cifar10", "variant_options": {}},
                                      grid={"seed": [0]}))
    (gauss,) = units_of(write_sweep(tmp_path, grid={"seed": [0]}, name="g.yaml"))
    outcomes = run_batch([cifar, gauss], LocalExecutor(1), store, retries=3)
    assert [(o.status, o.attempts) for o in outcomes] == [("failed", 1), ("done", 1)]  # not retried
    assert str(tmp_path / "no-data" / "cifar10-jpeg.tar.gz") in outcomes[0].note
    assert "RTSU_DATA_DIR" in outcomes[0].note


def write_notebook(path, code):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("value = 1  # a parameter", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell(code)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def notebook_unit(tmp_path, name, code, store):
    notebook = write_notebook(tmp_path / f"{name}.ipynb", code)
    output = store.root / "notebooks" / "test" / f"{name}.ipynb"
    spec = {"notebook": str(notebook), "cwd": str(tmp_path), "output": str(output), "parameters": {"value": 2}}
    return Unit("notebook", f"test/{name}", name + "-key", spec)


def test_notebook_that_raises_is_recorded_failed_with_its_output_and_the_batch_goes_on(tmp_path):
    store = ResultsStore(tmp_path / "store")
    raising = notebook_unit(tmp_path, "raising", "raise ValueError(f'bad value {value}')", store)
    fine = notebook_unit(tmp_path, "fine", "import os\nprint(os.environ['RTSU_RESULTS_DIR'], value * 10)", store)
    outcomes = run_batch([raising, fine], LocalExecutor(1), store, retries=0)
    assert [o.status for o in outcomes] == ["failed", "done"]
    assert "bad value 2" in outcomes[0].note
    failed = nbformat.read(raising.spec["output"], as_version=4)
    errors = [o for c in failed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["evalue"] == "bad value 2"
    state = json.loads((store.root / "batch" / "raising-key.json").read_text())
    assert state["status"] == "failed" and "bad value 2" in state["traceback"]
    printed = nbformat.read(fine.spec["output"], as_version=4).cells[-1].outputs[0]["text"]
    assert printed.split() == [str(store.root), "20"]
    assert not list(Path(raising.spec["output"]).parent.glob(".*partial*"))  # no half-written output left


def test_cli_exits_non_zero_when_a_unit_failed_and_prints_the_summary(tmp_path, monkeypatch, capsys):
    sweep = write_sweep(tmp_path, fixed={"num_epochs": 2}, grid={"lr": [1e9]})
    monkeypatch.setattr(batch, "run_and_tell", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    status = cli.main(["batch", "--sweep", str(sweep), "--results-dir", str(tmp_path / "store"), "--retries", "0"])
    captured = capsys.readouterr()
    assert status == 1 and "1 units: 0 done, 0 skipped, 0 diverged, 1 failed" in captured.out
    assert "[1/1] failed" in captured.err and "boom" in captured.err


def test_submitit_path_runs_units(tmp_path):
    # requeue on preemption is tested against a real Slurm in tests/test_slurm.py (slow)
    store = ResultsStore(tmp_path / "store")
    units = units_of(write_sweep(tmp_path))
    executor = SlurmExecutor(tmp_path / "slurm", jobs=2, cluster="debug")
    outcomes = list(executor.map(units, store.root, retries=0))
    assert sorted(o.status for o in outcomes) == ["done", "done"]
    assert all(isinstance(o, Outcome) for o in outcomes)


# --- SIGKILL at chosen points, then resume --------------------------------------------------------

CRASH_CONFIG = {"variant": "binary_gaussian", "variant_options": {"num_train": 12, "num_test": 4}, "depth": 10,
                "num_epochs": 3, "batch_size": 4, "dropout": 0.2, "augment": True, "lr_milestones": [2],
                "seed": 3}
CHILD = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(2)
    from rtsu_lib.experiment import RunConfig, run
    from rtsu_lib.results import ResultsStore
    run(RunConfig.from_dict({config}), ResultsStore(sys.argv[1]))
""")


def run_child(store_root, crash_at):
    env = dict(os.environ, RTSU_CRASH_AT=crash_at)
    return subprocess.run([sys.executable, "-c", CHILD.format(config=repr(CRASH_CONFIG)), str(store_root)],
                          env=env, capture_output=True, text=True, timeout=300)


def strip_seconds(history):
    return [{key: value for key, value in epoch.items() if key != "seconds"} for epoch in history]


def assert_nothing_torn(store, config):
    """Whatever a crash left is either absent or whole: every file under a final name reads back."""
    for path in (store.run_path(config), store.weights_path(config), store.checkpoint_path(config)):
        if path.exists():
            if path.suffix == ".json":
                json.loads(path.read_text())
            else:
                torch.load(path, weights_only=True)


def test_sigkill_at_every_point_then_resume_equals_an_uninterrupted_run(tmp_path):
    config = RunConfig.from_dict(CRASH_CONFIG)
    reference = ResultsStore(tmp_path / "reference")
    expected = experiment.run(config, reference)

    store = ResultsStore(tmp_path / "store")
    # 3 batches per epoch: batch 5 is inside epoch 2; then the next process dies writing epoch 2's checkpoint,
    # the next while writing the final weights, the next while writing the result record
    for crash_at in ("batch:5", "write:checkpoints:1", "write:models:1", "write:runs:1"):
        child = run_child(store.root, crash_at)
        assert child.returncode == -9, (crash_at, child.stderr[-2000:])
        assert store.get(config) is None, crash_at
        assert_nothing_torn(store, config)
    checkpoint = torch.load(store.checkpoint_path(config), weights_only=True)
    assert len(checkpoint["history"]) == 3  # the last crash came after the final epoch's checkpoint

    record = experiment.run(config, store)
    assert strip_seconds(record["history"]) == strip_seconds(expected["history"])
    got, want = store.load_weights(config), reference.load_weights(config)
    assert list(got) == list(want) and all(torch.equal(got[name], want[name]) for name in want)
    assert not store.checkpoint_path(config).exists()


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["batch:1", "batch:4", "batch:9", "write:checkpoints:2", "write:runs:1"])
def test_sigkill_at_one_point_then_resume_equals_an_uninterrupted_run(tmp_path, crash_at):
    config = RunConfig.from_dict(CRASH_CONFIG)
    expected = experiment.run(config, ResultsStore(tmp_path / "reference"))
    store = ResultsStore(tmp_path / "store")
    assert run_child(store.root, crash_at).returncode == -9
    assert_nothing_torn(store, config)
    record = experiment.run(config, store)
    assert strip_seconds(record["history"]) == strip_seconds(expected["history"])
    reference = ResultsStore(tmp_path / "reference").load_weights(config)
    assert all(torch.equal(store.load_weights(config)[name], value) for name, value in reference.items())


# --- two batches at once on one store -------------------------------------------------------------

def wait_for_blocked_locks(count, timeout):
    """Wait until ``count`` processes are blocked on a file lock (Linux's /proc/locks marks them '->')."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum("->" in line for line in Path("/proc/locks").read_text().splitlines()) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} processes blocked on a lock within {timeout} s")


def test_two_batches_at_once_train_each_run_once_and_lose_none(tmp_path):
    sweep = write_sweep(tmp_path, fixed={"variant_options": {"num_train": 32, "num_test": 8}}, grid={"seed": [0, 1]})
    store = tmp_path / "store"
    command = [sys.executable, "-m", "rtsu_lib.cli", "batch", "--sweep", str(sweep), "--results-dir", str(store)]
    with contextlib.ExitStack() as held:
        # Hold every run's lock until both batches wait on one, so they surely overlap.
        for unit in units_of(sweep):
            held.enter_context(ResultsStore(store).lock(unit.key))
        children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(2)]
        wait_for_blocked_locks(2, timeout=240)
    outputs = [child.communicate(timeout=300) for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    summaries = [out.strip().splitlines()[-1] for out, _ in outputs]
    done = sum(int(line.split("units: ")[1].split(" done")[0]) for line in summaries)
    skipped = sum(int(line.split("done, ")[1].split(" skipped")[0]) for line in summaries)
    assert (done, skipped) == (2, 2), summaries  # each run trained by exactly one of the two
    records = [json.loads(path.read_text()) for path in (store / "runs").glob("*.json")]
    assert len(records) == 2 and all(record["status"] == "done" for record in records)


# --- corrupt data files ---------------------------------------------------------------------------

def test_cache_with_a_flipped_byte_is_detected_and_rebuilt_not_trusted(tmp_path):
    from test_data import write_fake_archive

    from rtsu_lib.datasets import load_cifar

    write_fake_archive(tmp_path)
    cache = tmp_path / "cache"
    good = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    (cache_file,) = cache.glob("*.npz")
    data = bytearray(cache_file.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the image data: the file still opens, its CRC does not match
    cache_file.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=f"unreadable cache file {cache_file}"):
        rebuilt = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)
    assert np.array_equal(rebuilt.train_x, good.train_x) and np.array_equal(rebuilt.test_y, good.test_y)
    again = load_cifar("cifar10", data_dir=tmp_path, cache_dir=cache)  # the rebuilt cache is whole
    assert np.array_equal(again.train_x, good.train_x)


def test_a_notebook_output_overwritten_by_another_key_is_not_taken_as_done(tmp_path):
    store = ResultsStore(tmp_path / "store")
    output = tmp_path / "fig.ipynb"
    output.write_text('{"written by": "unit a"}')
    unit = Unit("notebook", "fig", "key-a", {"output": str(output)})
    batch._write_state(unit, store, Outcome(unit, "done"), None)
    assert batch.is_done(unit, store)
    output.write_text('{"written by": "unit b, which failed"}')  # same path, another key's parameters
    assert not batch.is_done(unit, store)


def _killed_once(unit, store_root, retries, device, force):
    """Pool work for the test below: the unit named "killer" SIGKILLs its worker the first time."""
    marker = Path(store_root) / f"{unit.name}.was-killed"
    if unit.name == "killer" and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return Outcome(unit, "done", attempts=1)


@pytest.mark.parametrize("retries, killer_status", [(1, "done"), (0, "failed")])
def test_units_lost_with_a_dead_pool_worker_go_to_a_fresh_pool(tmp_path, retries, killer_status):
    units = [Unit("run", name, name, {}) for name in ("killer", "a", "b", "c")]
    outcomes = list(LocalExecutor(2, work=_killed_once).map(units, tmp_path, retries))
    status = {outcome.unit.name: outcome.status for outcome in outcomes}
    assert sorted(status) == ["a", "b", "c", "killer"]
    assert status["killer"] == killer_status
    if retries:
        assert set(status.values()) == {"done"}
    else:
        assert "BrokenProcessPool" in next(o.note for o in outcomes if o.unit.name == "killer")
