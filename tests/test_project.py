"""The project's files agree with each other: dependencies, profiles and notebooks."""

import json
import tomllib
from pathlib import Path

import papermill
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book" / "notebooks").glob("*.ipynb"))
PROFILES = ("smoke", "quick", "paper")


def test_environment_yml_lists_the_pyproject_dependencies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["test"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert set(pip_section) == wanted


def test_every_profile_covers_every_notebook():
    names = {path.stem for path in NOTEBOOKS}
    assert names, "no notebooks found"
    for profile in PROFILES:
        assert {path.stem for path in (ROOT / "params" / profile).glob("*.yaml")} == names, profile


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_profile_parameters_exist_in_the_notebook_with_their_types(profile, notebook):
    declared = papermill.inspect_notebook(str(notebook))
    values = yaml.safe_load((ROOT / "params" / profile / f"{notebook.stem}.yaml").read_text())
    for key, value in values.items():
        assert key in declared, f"{profile}/{notebook.stem}: {key} is not a parameter"
        inferred = declared[key]["inferred_type_name"]
        if inferred != "None" and value is not None:  # papermill infers no type for lists
            assert type(value).__name__ == inferred, (key, value)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_clean_with_a_tagged_parameters_cell(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert all(not cell["outputs"] and cell["execution_count"] is None for cell in code)
    tagged = [cell for cell in code if "parameters" in cell["metadata"].get("tags", [])]
    assert len(tagged) == 1
    for line in "".join(tagged[0]["source"]).splitlines():
        assert " = " in line and "  # " in line, f"parameter line without a literal and comment: {line}"
        assert len(line) <= 125, line  # one literal per line, so a long list cannot wrap
    others = [cell for cell in code if cell is not tagged[0]]
    assert all(len(line) <= 110 for cell in others for line in "".join(cell["source"]).splitlines())
    assert "kernelspec" in json.loads(notebook.read_text())["metadata"]


def test_paper_profile_uses_the_papers_settings():
    fig3 = yaml.safe_load((ROOT / "params/paper/fig3_gaussian.yaml").read_text())
    assert fig3["sizes"] == [20000, 40000, 60000, 80000, 100000]
    assert (fig3["num_epochs"], fig3["batch_size"], fig3["lr"], fig3["rtsu_init"]) == (100, 64, 0.1, "uniform")
    fig4 = yaml.safe_load((ROOT / "params/paper/fig4_binary_cifar10.yaml").read_text())
    assert fig4["train_size"] is None and fig4["test_size"] is None
    assert (fig4["num_epochs"], fig4["batch_size"], fig4["lr"]) == (100, 64, 0.03)
    assert len(fig3["seeds"]) >= 3 and len(fig4["seeds"]) >= 3


def test_quick_profile_keeps_n_well_above_the_input_dimension():
    fig3 = yaml.safe_load((ROOT / "params/quick/fig3_gaussian.yaml").read_text())
    assert min(fig3["sizes"]) >= 2 * 3 * 32 * 32
