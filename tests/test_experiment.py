import json

import pytest

from rtsu_lib import experiment
from rtsu_lib.experiment import RunConfig, run
from rtsu_lib.results import ResultsStore

TINY = dict(variant="binary_gaussian", variant_options={"num_train": 16, "num_test": 8}, depth=10,
            num_epochs=1, batch_size=8)


def test_run_stores_result_with_provenance_and_then_reads_it(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    config = RunConfig(**TINY)
    record = run(config, store)
    assert record["status"] == "done" and len(record["history"]) == 1
    assert record["config"] == config.to_dict()
    prov = record["provenance"]
    for key in ("library_version", "git_commit", "torch_version", "device", "seed", "wall_seconds"):
        assert key in prov
    on_disk = json.loads(store.run_path(config).read_text())
    assert on_disk == record
    assert not store.checkpoint_path(config).exists()

    def must_not_train(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(experiment.Trainer, "fit", must_not_train)
    assert run(config, store) == record


def test_key_depends_on_every_setting():
    base = RunConfig(**TINY)
    assert ResultsStore.key(base) == ResultsStore.key(RunConfig(**TINY))
    for change in ({"seed": 1}, {"lr": 0.2}, {"variant_options": {"num_train": 17, "num_test": 8}},
                   {"activation": "relu"}, {"lr_milestones": [3]}):
        assert ResultsStore.key(RunConfig(**{**TINY, **change})) != ResultsStore.key(base)


def test_unreadable_result_is_recomputed(tmp_path):
    store = ResultsStore(tmp_path)
    config = RunConfig(**TINY)
    store.run_path(config).parent.mkdir(parents=True)
    store.run_path(config).write_text('{"config": ')
    assert run(config, store)["status"] == "done"
    assert json.loads(store.run_path(config).read_text())["status"] == "done"


def test_diverged_run_is_recorded_as_diverged(tmp_path):
    store = ResultsStore(tmp_path)
    config = RunConfig(**{**TINY, "lr": 1e9, "num_epochs": 3})
    record = run(config, store)
    if record["status"] == "done":  # 1e9 with 2 steps/epoch diverges on every machine we know; say so if not
        pytest.fail(f"expected divergence, got {record['history']}")
    assert record["status"] == "diverged" and "diverged at epoch" in record["error"]


@pytest.mark.parametrize("change,message", [
    ({"lr": 0.0}, "lr=0.0 is not allowed: must be > 0"),
    ({"batch_size": 0}, "batch_size=0 is not allowed"),
    ({"activation": "gelu"}, "activation='gelu' is not allowed: must be one of"),
    ({"variant": "mnist"}, "variant='mnist' is not allowed"),
    ({"rtsu_init": "spiral"}, "rtsu_init='spiral'"),
    ({"depth": 12}, "depth=12"),
    ({"variant_options": {"num_trian": 5}}, "unknown variant option.*num_trian"),
])
def test_bad_values_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{**TINY, **change})


@pytest.mark.parametrize("change", [{"lr": "0.1"}, {"num_epochs": 2.5}, {"augment": "yes"}, {"seed": True},
                                    {"lr_milestones": ["60"]}])
def test_wrong_types_are_named(change):
    (key, value), = change.items()
    with pytest.raises(TypeError, match=key):
        RunConfig(**{**TINY, **change})


def test_unknown_key_is_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown run parameter\(s\) \['learning_rate'\].*allowed: .*'lr'"):
        RunConfig.from_dict({**TINY, "learning_rate": 0.1})


def test_int_is_accepted_where_a_float_is_expected():
    assert RunConfig(**{**TINY, "lr": 1}).lr == 1
