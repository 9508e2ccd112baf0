"""``rtsu``: run a profile's figure notebooks through papermill and build the book.

    rtsu run  --profile quick [--figures fig3_gaussian ...]   execute notebooks into book/executed/
    rtsu book --profile quick [--figures ...]                 the same, then jupyter-book build book/
    rtsu list                                                  profiles and their notebooks
    rtsu batch --profile smoke | --sweep FILE [--executor local|slurm] [--jobs N] [--dry-run]
                                                               resumable batch runs into the results store
"""

import argparse
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from papermill.exceptions import PapermillExecutionError

from .book_assets import install_offline_assets, use_static_explorers
from .datasets import PROJECT_ROOT

log = logging.getLogger("rtsu_lib.cli")


class Project:
    """Where a project's book sources, parameter files and build output live."""

    def __init__(self, root=PROJECT_ROOT):
        self.root = Path(root).resolve()
        self.book = self.root / "book"
        self.notebooks = self.book / "notebooks"
        self.executed = self.book / "executed"
        self.params = self.root / "params"
        self.html_index = self.root / "_build" / "html" / "index.html"


class ProfileError(ValueError):
    pass


def profiles(project: Project) -> list[str]:
    return sorted(path.name for path in project.params.iterdir() if path.is_dir())


def profile_notebooks(project: Project, profile: str) -> dict[str, Path]:
    """Notebook name -> its parameter file, in the book's order (pages that read others' results last)."""
    folder = project.params / profile
    if not folder.is_dir():
        raise ProfileError(f"unknown profile {profile!r}; choose one of {profiles(project)}")
    order = toc_order(project)
    files = sorted(folder.glob("*.yaml"), key=lambda path: (order.get(path.stem, len(order)), path.stem))
    return {path.stem: path for path in files}


def toc_order(project: Project) -> dict[str, int]:
    """Position of each executed notebook in book/_toc.yml."""
    with open(project.book / "_toc.yml") as stream:
        toc = yaml.safe_load(stream)
    files = [chapter["file"] for part in toc.get("parts", []) for chapter in part.get("chapters", [])]
    return {Path(file).name: position for position, file in enumerate(files)}


def declared_parameters(notebook: Path) -> dict:
    """The names in ``notebook``'s parameters cell, each with papermill's description (default as source text)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def read_parameters(params_file: Path, declared: dict, notebook_name: str) -> dict:
    """The profile's parameters from ``params_file``, refused when one is not ``declared`` by the notebook."""
    with open(params_file) as stream:
        values = yaml.safe_load(stream) or {}
    if not isinstance(values, dict):
        raise ProfileError(f"{params_file} must hold a mapping of parameter names to values")
    unknown = set(values) - set(declared)
    if unknown:
        raise ProfileError(f"{params_file}: unknown parameter(s) {sorted(unknown)} for {notebook_name}; "
                           f"its parameters are {sorted(declared)}")
    return values


def execute(project: Project, profile: str, figures=None) -> list[Path]:
    """Execute the profile's notebooks; stop at the first that raises (its output is still written)."""
    import papermill

    selected = profile_notebooks(project, profile)
    if figures:
        missing = set(figures) - set(selected)
        if missing:
            raise ProfileError(f"profile {profile!r} has no notebook(s) {sorted(missing)}; it has {sorted(selected)}")
        selected = {name: selected[name] for name in figures}
    plans = []
    for name, params_file in selected.items():
        notebook = project.notebooks / f"{name}.ipynb"
        if not notebook.is_file():
            raise ProfileError(f"{params_file} names notebook {notebook}, which does not exist")
        parameters = read_parameters(params_file, declared_parameters(notebook), notebook.name)
        plans.append((name, notebook, parameters))

    project.executed.mkdir(parents=True, exist_ok=True)
    use_static_explorers()  # the book has no kernel: its notebooks show the static explorers
    outputs = []
    for name, notebook, parameters in plans:
        output = project.executed / f"{name}.ipynb"
        started = time.perf_counter()
        log.info("executing %s at profile %s", notebook, profile)
        papermill.execute_notebook(str(notebook), str(output), parameters=dict(parameters, profile=profile),
                                   cwd=str(project.book), kernel_name="python3", progress_bar=False)
        log.info("  %s done in %.0f s -> %s", name, time.perf_counter() - started, output)
        outputs.append(output)
    return outputs


def build_book(project: Project) -> Path:
    install_offline_assets(project.book)
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    subprocess.run([jupyter_book, "build", str(project.book), "-W", "-n", "--keep-going"], cwd=project.root,
                   check=True)
    return project.html_index


def main(argv=None):
    parser = argparse.ArgumentParser(prog="rtsu", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("run", "book"):
        sub = commands.add_parser(command)
        sub.add_argument("--profile", default="quick", help="parameter set: smoke, quick (default) or paper")
        sub.add_argument("--figures", nargs="*", help="notebook names (default: all of the profile's)")
    commands.add_parser("list")
    from . import batch

    batch.add_arguments(commands.add_parser("batch", help="run a profile or a sweep grid: local pool or Slurm, "
                                                          "resumable (see rtsu_lib.batch)"))
    parser.add_argument("--project-dir", default=PROJECT_ROOT, help="project folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    project = Project(args.project_dir)
    try:
        if args.command == "list":
            for profile in profiles(project):
                print(f"{profile}: {', '.join(profile_notebooks(project, profile))}")
            return 0
        if args.command == "batch":
            return batch.command(args, project)
        started = time.perf_counter()
        execute(project, args.profile, args.figures)
        if args.command == "book":
            index = build_book(project)
            print(f"Book built in {time.perf_counter() - started:.0f} s at profile {args.profile}: {index}")
    except ProfileError as error:
        print(f"rtsu: error: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"rtsu: error: the book build failed ({error})", file=sys.stderr)
        return 1
    except PapermillExecutionError as error:
        print(f"rtsu: error: a notebook raised; its output with the traceback is in {project.executed}\n{error}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
