"""Batch runs: a profile's notebooks or a sweep grid, on a local pool or on Slurm, resumable.

A *unit* is one notebook at a profile (``--profile``) or one ``RunConfig`` of a sweep grid
(``--sweep FILE``). Every unit has a key in the results store, and its state (``done``,
``diverged`` or ``failed`` with its traceback) is written to ``batch/<key>.json`` there. A unit
already done is skipped; a failed one is retried up to ``retries`` times, then reported, and the
batch goes on. Everything is checked before anything runs: a bad parameter stops the batch with
nothing written.

A sweep file holds ``fixed`` (one value per ``RunConfig`` field) and ``grid`` (a list of values per
field; the runs are their product). ``variant_options.<name>`` sets one option of the variant::

    fixed: {variant: binary_gaussian, variant_options: {num_test: 128}, num_epochs: 2}
    grid: {activation: [rtsu, relu], seed: [0, 1], variant_options.num_train: [256, 512]}
"""

import ast
import contextlib
import dataclasses
import getpass
import hashlib
import itertools
import json
import logging
import math
import os
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path

import yaml

from . import show_progress_lines
from .book_assets import STATIC_EXPLORERS_ENV
from .checks import is_int, require
from .cli import Project, ProfileError, declared_parameters, profile_notebooks, read_parameters
from .datasets import CorruptDataError, DatasetNotFoundError
from .experiment import RunConfig, run_and_tell
from .results import ResultsStore
from .storage import read_json, write_json
from .transforms import TRANSFORMS
from .variants import OPTION_RULES

log = logging.getLogger(__name__)

PERMANENT_ERRORS = (DatasetNotFoundError, CorruptDataError)  # a retry cannot help: reported at once
READS_OTHERS = ("claims",)  # notebooks that read the other notebooks' results: they run last
STATUSES = ("done", "skipped", "diverged", "failed")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One thing to run: a notebook at a profile, or one RunConfig (``spec`` holds what it needs)."""

    kind: str  # "notebook" or "run"
    name: str
    key: str
    spec: dict
    runs_last: bool = False


@dataclasses.dataclass
class Outcome:
    unit: Unit
    status: str  # one of STATUSES
    attempts: int = 0
    seconds: float = 0.0
    note: str = ""


# --- planning: profiles -----------------------------------------------------------------------------

def plan_profile(project: Project, profile: str, figures=None, store: ResultsStore | None = None) -> list[Unit]:
    """The profile's notebooks as units, every parameter checked (nothing is written)."""
    store = store or ResultsStore()
    selected = profile_notebooks(project, profile)
    missing = set(figures or ()) - set(selected)
    if missing:
        raise ProfileError(f"profile {profile!r} has no notebook(s) {sorted(missing)}; "
                           f"it has {sorted(selected)}")
    units = []
    for name, params_file in selected.items():
        if figures and name not in figures:
            continue
        notebook = project.notebooks / f"{name}.ipynb"
        if not notebook.is_file():
            raise ProfileError(f"{params_file} names notebook {notebook}, which does not exist")
        declared = declared_parameters(notebook)
        parameters = read_parameters(params_file, declared, notebook.name)
        check_notebook_parameters(params_file, parameters, declared)
        units.append(_notebook_unit(project, profile, name, notebook, parameters, store))
    return units


def _notebook_unit(project, profile, name, notebook, parameters, store) -> Unit:
    content = hashlib.sha256(notebook.read_bytes()).hexdigest()
    identity = {"kind": "notebook", "profile": profile, "name": name, "parameters": parameters,
                "notebook": content}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    output = store.root / "notebooks" / profile / f"{name}.ipynb"
    spec = {"notebook": str(notebook), "cwd": str(project.book), "output": str(output),
            "parameters": dict(parameters, profile=profile)}
    return Unit("notebook", f"{profile}/{name}", key, spec, runs_last=name in READS_OTHERS)



def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _run_field(field):
    def check(key, value):
        try:
            RunConfig(**{"variant": "true_labels", field: value})
        except (TypeError, ValueError) as error:
            raise type(error)(str(error) if key == field else f"{key}: {error}") from None
    return check


def _variant_option(option):
    accepts, allowed = OPTION_RULES[option]

    def check(key, value):
        require(accepts(value), key, value, allowed)
    return check


def _rule(accepts, allowed):
    def check(key, value):
        require(accepts(value), key, value, allowed)
    return check


def _each(check):
    def check_list(key, value):
        require(isinstance(value, list) and value, key, value, "a non-empty list")
        for item in value:
            check(key, item)
    return check_list



# Notebook parameters checked by the rules of the RunConfig field, variant option or registry they feed.
PARAMETER_RULES = {
    **{name: _run_field(name) for name in ("lr", "batch_size", "num_epochs", "weight_decay", "momentum",
                                            "activation", "rtsu_init")},
    "seeds": _each(_run_field("seed")),
    "activations": _each(_run_field("activation")),
    "variants": _each(_run_field("variant")),
    "sizes": _each(_variant_option("num_train")),
    "num_test": _variant_option("num_test"),
    "train_size": _variant_option("train_size"),
    "test_size": _variant_option("test_size"),
    "transforms": _each(_rule(lambda v: v in TRANSFORMS, f"one of {sorted(TRANSFORMS)}")),
    "strengths": _each(_rule(lambda v: _is_number(v) and v >= 0, "a number >= 0")),
    "eval_images": _rule(lambda v: v is None or (is_int(v) and v >= 1), "None or an integer >= 1"),
    "lr_drop_epoch": _rule(lambda v: is_int(v) and v >= 1, "an integer >= 1"),
}


def check_notebook_parameters(source, values: dict, declared: dict):
    """Refuse values that are not plain literals, of another type than the notebook's, or out of range."""
    for key, value in values.items():
        try:
            check_literal(key, value)
            _check_type(key, value, declared[key].get("default"))
            PARAMETER_RULES.get(key, lambda k, v: None)(key, value)
        except (TypeError, ValueError) as error:
            raise ProfileError(f"{source}: {error}") from None


def check_literal(key, value):
    """Only plain YAML values (None, bool, int, finite float, str, lists and str-keyed dicts of them)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        require(math.isfinite(value), key, value, "a finite number")
    elif isinstance(value, list):
        for item in value:
            check_literal(key, item)
    elif isinstance(value, dict) and all(isinstance(name, str) for name in value):
        for item in value.values():
            check_literal(key, item)
    else:
        raise TypeError(f"{key}={value!r} has type {type(value).__name__}; parameters must be plain literals "
                        f"(None, bool, int, float, str, list, dict)")


def _check_type(key, value, default: str | None):
    """``value`` has the type of the notebook's default (an int will do for a float; None for anything)."""
    try:
        expected = type(ast.literal_eval(default or "None"))
    except (ValueError, SyntaxError):
        return
    if value is None or expected is type(None) or isinstance(value, expected) and type(value) is not bool \
            or expected is bool and type(value) is bool or expected is float and is_int(value):
        return
    raise TypeError(f"{key}={value!r} has type {type(value).__name__}; "
                    f"the notebook expects {expected.__name__}")


# --- planning: sweeps -------------------------------------------------------------------------------

def plan_sweep(path) -> list[Unit]:
    """The RunConfigs of a sweep file's grid as units, each checked (nothing is written)."""
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"sweep file {path} does not exist")
    with open(path) as stream:
        sweep = yaml.safe_load(stream) or {}
    try:
        return [_run_unit(config, varied) for config, varied in _grid(sweep)]
    except (TypeError, ValueError) as error:
        raise ProfileError(f"{path}: {error}") from None


def _grid(sweep):
    require(isinstance(sweep, dict) and set(sweep) <= {"fixed", "grid"}, "sweep", sweep,
             "a mapping with the keys 'fixed' and 'grid'")
    fixed, grid = sweep.get("fixed") or {}, sweep.get("grid") or {}
    require(isinstance(fixed, dict), "fixed", fixed, "a mapping of RunConfig fields to values")
    require(isinstance(grid, dict), "grid", grid, "a mapping of RunConfig fields to lists of values")
    for key, value in {**fixed, **grid}.items():
        _check_sweep_key(key)
        check_literal(key, value)
    for key, values in grid.items():
        require(isinstance(values, list) and values, f"grid.{key}", values, "a non-empty list of values")
    for point in itertools.product(*grid.values()):
        varied = dict(zip(grid, point))
        yield _config({**fixed, **varied}), varied


def _check_sweep_key(key):
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    field = key.split(".", 1)[0] if key.startswith("variant_options.") else key
    if field not in fields:
        raise ValueError(f"unknown run parameter {key!r}; allowed: {fields} (and variant_options.<option>)")


def _config(values: dict) -> RunConfig:
    flat = {key: value for key, value in values.items() if not key.startswith("variant_options.")}
    options = dict(flat.pop("variant_options", None) or {})
    options.update({key.split(".", 1)[1]: value for key, value in values.items()
                    if key.startswith("variant_options.")})
    try:
        return RunConfig.from_dict({**flat, "variant_options": options})
    except (TypeError, ValueError) as error:
        raise ValueError(f"{error} (in the grid point {values})") from None


def _run_unit(config: RunConfig, varied: dict) -> Unit:
    name = " ".join(f"{key}={value}" for key, value in varied.items()) or config.variant
    return Unit("run", name, ResultsStore.key(config), {"config": config.to_dict()})


# --- executing one unit ----------------------------------------------------------------------------

def is_done(unit: Unit, store: ResultsStore) -> bool:
    """Whether the store already holds this unit's result (a diverged run counts: it is its result)."""
    if unit.kind == "run":
        return store.get(RunConfig.from_dict(unit.spec["config"])) is not None
    state = read_state(unit, store)
    output = Path(unit.spec["output"])
    # the output path is shared by every key of a notebook: only the file this unit wrote counts
    return (state is not None and state.get("status") == "done" and output.is_file()
            and state.get("output_sha256") == _sha256(output))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_path(unit: Unit, store: ResultsStore) -> Path:
    return store.root / "batch" / f"{unit.key}.json"


def read_state(unit: Unit, store: ResultsStore) -> dict | None:
    try:
        return read_json(state_path(unit, store))
    except (OSError, ValueError):
        return None


def execute_unit(unit: Unit, store_root, retries: int = 1, device=None, force: bool = False) -> Outcome:
    """Run ``unit`` (up to ``1 + retries`` attempts) unless it is done; record its state in the store."""
    store = ResultsStore(store_root)
    started = time.perf_counter()
    outcome, trace = Outcome(unit, "failed"), None
    for attempt in range(1, retries + 2):
        outcome.attempts = attempt
        try:
            outcome.status, outcome.note = _execute_once(unit, store, device, force)
            break
        except Exception as error:  # noqa: BLE001 - any failure of a unit is recorded, and the batch goes on
            outcome.note = f"{type(error).__name__}: {error}".strip()
            trace = traceback.format_exc()
            log.warning("%s: attempt %d of %d failed: %s", unit.name, attempt, retries + 1, outcome.note)
            if isinstance(error, PERMANENT_ERRORS):
                break
    outcome.seconds = time.perf_counter() - started
    if outcome.status != "skipped":
        _write_state(unit, store, outcome, trace if outcome.status == "failed" else None)
    return outcome


def _execute_once(unit, store, device, force) -> tuple[str, str]:
    if unit.kind == "run":
        record, trained = run_and_tell(RunConfig.from_dict(unit.spec["config"]), store, device=device)
        if record["status"] == "diverged":
            return "diverged", f"at epoch {record.get('diverged_epoch')}"
        return ("done" if trained else "skipped"), ""
    with store.lock(unit.key):
        if not force and is_done(unit, store):
            return "skipped", ""
        _execute_notebook(unit.spec, store)
    return "done", unit.spec["output"]


def _execute_notebook(spec: dict, store: ResultsStore):
    """papermill into a temporary file that is renamed over the output, also when a cell raises."""
    import papermill

    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.{os.getpid()}.partial.ipynb")
    try:
        # the executed notebooks are for the book, which has no kernel: static explorers, as `rtsu run` shows
        with _environment(RTSU_RESULTS_DIR=str(store.root), **{STATIC_EXPLORERS_ENV: "1"}):
            papermill.execute_notebook(spec["notebook"], str(partial), parameters=spec["parameters"],
                                       cwd=spec["cwd"], kernel_name="python3", progress_bar=False)
    finally:
        if partial.exists():
            _fsync(partial)
            os.replace(partial, output)


@contextlib.contextmanager
def _environment(**values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _fsync(path: Path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _write_state(unit, store, outcome: Outcome, trace: str | None):
    written = unit.kind == "notebook" and outcome.status == "done"
    write_json(state_path(unit, store), {
        "kind": unit.kind, "name": unit.name, "key": unit.key, "spec": unit.spec, "status": outcome.status,
        "attempts": outcome.attempts, "seconds": outcome.seconds, "note": outcome.note, "traceback": trace,
        "output_sha256": _sha256(Path(unit.spec["output"])) if written else None,
        "host": os.uname().nodename, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


# --- executors ------------------------------------------------------------------------------------

class LocalExecutor:
    """Units one after another in this process (``jobs=1``), or on a pool of ``jobs`` processes.

    When a pool worker dies (killed, out of memory) the pool is broken and every unit not yet
    finished on it fails with it; those units go to a fresh pool, at most ``retries`` more times.
    """

    def __init__(self, jobs: int = 1, work=None):
        require(is_int(jobs) and jobs >= 1, "jobs", jobs, "an integer >= 1")
        self.jobs = jobs
        self.work = work or execute_unit  # (unit, store_root, retries, device, force) -> Outcome

    def map(self, units, store_root, retries, device=None, force=()):
        if self.jobs == 1:
            for unit in units:
                yield self.work(unit, store_root, retries, device, unit.key in force)
            return
        pending = list(units)
        for pool_round in range(retries + 1):
            lost = []
            for unit, get_result in self._on_a_pool(pending, store_root, retries, device, force):
                try:
                    yield get_result()
                except BrokenProcessPool as error:
                    if pool_round < retries:
                        lost.append(unit)
                    else:
                        yield _worker_died(unit, error, attempts=pool_round + 1)
                except Exception as error:  # noqa: BLE001
                    yield _worker_died(unit, error, attempts=1)
            if not lost:
                return
            log.warning("a pool worker died; %d unit(s) go to a fresh pool", len(lost))
            pending = lost

    def _on_a_pool(self, units, store_root, retries, device, force):
        with ProcessPoolExecutor(self.jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(self.work, unit, str(store_root), retries, device, unit.key in force): unit
                       for unit in units}
            for future in as_completed(futures):
                yield futures[future], future.result


def _worker_died(unit, error, attempts) -> Outcome:
    return Outcome(unit, "failed", attempts=attempts, note=f"the worker died: {type(error).__name__}: {error}")


def _result_or_failure(get_result, unit) -> Outcome:
    """The outcome a worker returned; a worker that died (killed, out of memory) makes a failed one."""
    try:
        return get_result()
    except Exception as error:  # noqa: BLE001
        return _worker_died(unit, error, attempts=1)


class UnitTask:
    """The callable each Slurm array task runs. On preemption or timeout submitit calls ``checkpoint``
    and requeues the same unit, which then resumes from the run's per-epoch checkpoint in the store."""

    def __init__(self, store_root, retries, device=None, force=()):
        self.store_root, self.retries, self.device, self.force = str(store_root), retries, device, set(force)

    def __call__(self, unit: Unit) -> Outcome:
        show_progress_lines()  # one line per epoch (and "resumed from ...") in the task's log
        return execute_unit(unit, self.store_root, self.retries, self.device, unit.key in self.force)

    def checkpoint(self, unit: Unit):
        import submitit

        return submitit.helpers.DelayedSubmission(self, unit)


class SlurmExecutor:
    """A Slurm job array through submitit: one unit per task, at most ``jobs`` tasks at once.

    ``cluster="debug"`` runs the tasks in this process through submitit's DebugExecutor (tests).
    """

    def __init__(self, folder, jobs=4, gpus_per_task=0, timeout_min=24 * 60, partition=None, cpus_per_task=None,
                 mem_gb=None, cluster=None, poll_seconds=2.0):
        import submitit

        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        self.executor.update_parameters(**self._parameters(jobs, gpus_per_task, timeout_min, partition,
                                                           cpus_per_task, mem_gb))
        self.poll_seconds = poll_seconds

    def _parameters(self, jobs, gpus_per_task, timeout_min, partition, cpus_per_task, mem_gb) -> dict:
        values = {"timeout_min": timeout_min, "slurm_array_parallelism": jobs, "name": "rtsu-batch"}
        if gpus_per_task:
            values["gpus_per_node"] = gpus_per_task
        if partition:
            values["slurm_partition"] = partition
        if cpus_per_task:
            values["cpus_per_task"] = cpus_per_task
        if mem_gb:
            values["mem_gb"] = mem_gb
        if self.executor.cluster != "slurm":
            values = {key: value for key, value in values.items() if not key.startswith("slurm_")}
        return values

    def map(self, units, store_root, retries, device=None, force=()):
        units = list(units)
        if units:
            yield from self.collect(self.submit(units, store_root, retries, device, force), units)

    def submit(self, units, store_root, retries, device=None, force=()) -> list:
        """One array task per unit; returns submitit's jobs."""
        jobs = self.executor.map_array(UnitTask(store_root, retries, device, force), units)
        log.info("submitted %d units as %s", len(jobs), jobs[0].job_id.split("_")[0])
        return jobs

    def collect(self, jobs, units):
        """The outcome of each job as it finishes."""
        pending = dict(zip(jobs, units))
        while pending:
            queued = self._queued()
            finished = [job for job in pending if self._finished(job, queued)]
            for job in finished:
                yield _result_or_failure(self._result_getter(job), pending.pop(job))
            if pending:
                time.sleep(self.poll_seconds)

    def _result_getter(self, job):
        """``job.result``; for a task that left the queue without a result (killed), an error to report."""
        if self.executor.cluster == "debug" or job.paths.result_pickle.exists():
            return job.result

        def died():
            raise RuntimeError(f"Slurm task {job.job_id} ended without a result (killed?); see its log "
                               f"{job.paths.stderr}")
        return died

    def _finished(self, job, queued) -> bool:
        """A result file, or a job no longer in the queue (without accounting, sacct cannot tell)."""
        if self.executor.cluster == "debug" or job.done():
            return True
        return queued is not None and job.job_id not in queued

    @staticmethod
    def _queued() -> set | None:
        """Ids of this user's jobs still pending or running (``None`` when squeue cannot say)."""
        try:
            listed = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i"],
                                    capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        return set(listed.stdout.split()) if listed.returncode == 0 else None


# --- the batch --------------------------------------------------------------------------------------

def run_batch(units, executor, store: ResultsStore, retries: int = 1, device=None,
              report=None) -> list[Outcome]:
    """Run the units that are not done yet (those that read others last); ``report(outcome)`` after each."""
    report = report or (lambda outcome: None)
    outcomes, ran_any = [], False
    for stage in ([u for u in units if not u.runs_last], [u for u in units if u.runs_last]):
        force = {unit.key for unit in stage if unit.runs_last and ran_any}  # re-read what others just made
        todo = []
        for unit in stage:
            if unit.key not in force and is_done(unit, store):
                outcomes.append(Outcome(unit, "skipped", note="already in the store"))
                report(outcomes[-1])
            else:
                todo.append(unit)
        for outcome in executor.map(todo, store.root, retries, device, force):
            ran_any |= outcome.status != "skipped"
            outcomes.append(outcome)
            report(outcome)
    return outcomes


def dry_run_lines(units, store: ResultsStore) -> list[str]:
    lines = []
    for unit in units:
        state = "done, skipped" if is_done(unit, store) else "to run"
        previous = read_state(unit, store)
        if previous and previous.get("status") == "failed" and state == "to run":
            state += f" (failed before: {previous.get('note', '')[:80]})"
        lines.append(f"{unit.key}  {unit.kind:8s}  {unit.name:40s}  {state}")
    return lines


def counts(outcomes) -> dict:
    return {status: sum(outcome.status == status for outcome in outcomes) for status in STATUSES}


def summary_table(outcomes) -> str:
    rows = [("unit", "status", "tries", "seconds", "note")]
    rows += [(o.unit.name, o.status, str(o.attempts), f"{o.seconds:.0f}", o.note.splitlines()[0][:90] if o.note
              else "") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4]
             for row in rows]
    total = ", ".join(f"{count} {status}" for status, count in counts(outcomes).items())
    return "\n".join(lines + [f"{len(outcomes)} units: {total}"])


class Progress:
    """A tqdm bar over units on a terminal; a compact line per finished unit otherwise."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.total, self.outcomes = total, []
        self.bar = None
        if self.stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="unit", file=self.stream)

    def __call__(self, outcome: Outcome):
        self.outcomes.append(outcome)
        tally = counts(self.outcomes)
        if self.bar is not None:
            self.bar.set_postfix(done=tally["done"], skipped=tally["skipped"], failed=tally["failed"],
                                 diverged=tally["diverged"])
            self.bar.update(1)
            return
        note = f"  ({outcome.note.splitlines()[0][:100]})" if outcome.note and outcome.status != "done" else ""
        print(f"[{len(self.outcomes)}/{self.total}] {outcome.status:8s} {outcome.unit.name}  "
              f"{outcome.seconds:.0f} s{note}", file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# --- command line ------------------------------------------------------------------------------------

def add_arguments(parser):
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--profile", help="run this profile's notebooks (default: quick)")
    what.add_argument("--sweep", help="run the grid of this sweep YAML file instead")
    parser.add_argument("--figures", nargs="*", help="notebook names (default: all of the profile's)")
    parser.add_argument("--executor", choices=("local", "slurm"), default="local",
                        help="local (default): this machine; slurm: a job array through submitit")
    parser.add_argument("--jobs", type=int, default=1,
                        help="units at once: local pool size, or Slurm array concurrency (default: 1)")
    parser.add_argument("--retries", type=int, default=1, help="extra attempts for a failing unit (default: 1)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would run and what is done; run nothing")
    parser.add_argument("--results-dir", help="results store (default: $RTSU_RESULTS_DIR or results/)")
    parser.add_argument("--device", help="device for sweep runs: cpu, cuda, ... (default: the best available)")
    slurm = parser.add_argument_group("slurm")
    slurm.add_argument("--gpus-per-task", type=int, default=0, help="GPUs per array task (default: 0)")
    slurm.add_argument("--cpus-per-task", type=int, help="CPUs per array task")
    slurm.add_argument("--mem-gb", type=float, help="memory per array task")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--time-min", type=int, default=24 * 60, help="time limit per task in minutes")
    slurm.add_argument("--slurm-dir", help="submitit's folder for scripts and logs (default: <results>/slurm)")


def command(args, project: Project) -> int:
    """``rtsu batch``: plan, check, run, summarise. Returns the exit status (1 when a unit failed)."""
    logging.getLogger("papermill").setLevel(logging.WARNING)
    store = ResultsStore(args.results_dir)
    if args.jobs < 1 or args.retries < 0:
        raise ProfileError(f"--jobs={args.jobs} and --retries={args.retries} must be >= 1 and >= 0")
    if args.sweep and args.figures:
        raise ProfileError("--figures selects notebooks of a profile; it does not apply to --sweep")
    if args.sweep:
        units = plan_sweep(args.sweep)
    else:
        units = plan_profile(project, args.profile or "quick", args.figures, store)
    if args.dry_run:
        print("\n".join(dry_run_lines(units, store)) or "nothing to run")
        return 0
    executor = make_executor(args, store)
    progress = Progress(len(units))
    try:
        outcomes = run_batch(units, executor, store, args.retries, args.device, report=progress)
    finally:
        progress.close()
    print(summary_table(outcomes))
    return 1 if any(outcome.status == "failed" for outcome in outcomes) else 0


def make_executor(args, store: ResultsStore):
    if args.executor == "local":
        return LocalExecutor(args.jobs)
    folder = Path(args.slurm_dir) if args.slurm_dir else store.root / "slurm"
    return SlurmExecutor(folder, jobs=args.jobs, gpus_per_task=args.gpus_per_task, timeout_min=args.time_min,
                         partition=args.partition, cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb,
                         cluster="slurm")
