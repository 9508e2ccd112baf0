"""The speed benchmark runs end to end in its fast mode (a check of the script, not a timing)."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("speed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fast_mode_writes_every_default_section_with_positive_numbers(speed, tmp_path, capsys):
    out = tmp_path / "speed.json"
    speed.main(["--quick", "--json", str(out)])
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert set(sections) == set(speed.DEFAULT_SECTIONS)
    assert report["machine"]["threads"] == 2 and report["machine"]["torch"]
    trainer = sections["trainer"]["batch_8"]
    assert trainer["reference_img_per_s"] > 0 and trainer["ours_img_per_s"] > 0 and trainer["speedup"] > 0
    for name in speed.ACTIVATIONS:
        assert sections["activations"][name]["img_per_s"] > 0
        assert sections["activations"][name]["saved_for_backward_mib"] > 0
    assert sections["activations"]["crelu"]["memory_vs_crelu"] == 1.0
    assert 0 < sections["pipeline"]["ours_share_of_step"] < 1
    for name, row in sections["transforms"].items():
        assert row["speedup"] > 0, name
        assert row["max_abs_diff"] <= 1e-4, name
    assert sections["paper_estimate"]["paper"]["hours"]["total"] > 0
    assert "Generating functions" in capsys.readouterr().out


def test_unknown_section_is_refused(speed):
    with pytest.raises(SystemExit):
        speed.parse_args(["--sections", "trainer,nonsense"])
