"""The book builds at the smoke profile, and a notebook that raises stops the build."""

import json
import re
import subprocess

import pytest
import yaml

from conftest import ROOT, RTSU, copy_project


@pytest.fixture
def project_copy(tmp_path):
    """The book's sources, profiles and config in a scratch folder, with its own results store."""
    return tmp_path, copy_project(tmp_path)


def test_smoke_profile_builds_the_book(smoke_book):
    folder, env, done = smoke_book
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    html = folder / "_build" / "html"
    notebooks = sorted(path.stem for path in (ROOT / "book" / "notebooks").glob("*.ipynb"))
    for page in ["intro"] + [f"executed/{name}" for name in notebooks]:
        assert (html / f"{page}.html").is_file(), page
    fig3 = (html / "executed/fig3_gaussian.html").read_text()
    assert "<img" in fig3 and "smoke" in fig3 and "Traceback" not in fig3
    records = [json.loads(path.read_text()) for path in (folder / "results" / "runs").glob("*.json")]
    assert records and all(record["status"] == "done" for record in records)
    claims = (html / "executed/claims.html").read_text()
    assert claims.count("Fig. 3") >= 1 and "Figs. 6-11" in claims and "Thm. II.4" in claims


def test_the_built_book_has_static_explorers_no_widget_state_and_launch_buttons(smoke_book):
    folder, _, done = smoke_book
    assert done.returncode == 0, done.stderr[-3000:]
    for path in (folder / "book" / "executed").glob("*.ipynb"):
        notebook = json.loads(path.read_text())
        assert "widgets" not in notebook["metadata"], path.name
    html = folder / "_build" / "html"
    assert (html / "_static" / "offline" / "plotly.min.js").is_file()
    for name in ("rtsu_explorer", "fig6_11_generating_functions"):
        page = (html / "executed" / f"{name}.html").read_text()
        assert "Plotly.newPlot" in page and "_static/offline/plotly.min.js" in page, name
        assert f"urlpath=lab/tree/book/notebooks/{name}.ipynb" in page, name  # Binder
        assert f"/blob/main/book/notebooks/{name}.ipynb" in page, name  # Colab
    for page in html.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"""<(script|link)[^>]+(src|href)=["'](https?:)?//""", text), page.name


def test_a_notebook_that_raises_fails_the_run_and_keeps_its_output(project_copy):
    folder, env = project_copy
    params = folder / "params" / "smoke" / "fig3_gaussian.yaml"
    values = yaml.safe_load(params.read_text())
    params.write_text(yaml.safe_dump({**values, "lr": -1.0}))
    done = subprocess.run(RTSU + ["--project-dir", str(folder), "book", "--profile", "smoke"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "a notebook raised" in done.stderr
    output = json.loads((folder / "book" / "executed" / "fig3_gaussian.ipynb").read_text())
    errors = [o for c in output["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and "lr=-1.0 is not allowed" in errors[0]["evalue"]
    assert not (folder / "_build").exists()


def test_unknown_profile_parameter_is_refused_before_anything_runs(project_copy):
    folder, env = project_copy
    (folder / "params" / "smoke" / "fig3_gaussian.yaml").write_text("sizes: [256]\nlearning_rate: 0.1\n")
    done = subprocess.run(RTSU + ["--project-dir", str(folder), "run", "--profile", "smoke"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "learning_rate" in done.stderr
    assert not (folder / "book" / "executed").exists()


def test_unknown_profile_is_named(project_copy):
    folder, env = project_copy
    done = subprocess.run(RTSU + ["--project-dir", str(folder), "run", "--profile", "huge"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown profile 'huge'" in done.stderr and "smoke" in done.stderr
