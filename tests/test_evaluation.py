import pytest
import torch

from rtsu_lib import evaluation
from rtsu_lib.evaluation import accuracy_of, transform_accuracies
from rtsu_lib.experiment import RunConfig, load_data, load_trained_model, run
from rtsu_lib.results import ResultsStore

CONFIG = RunConfig(variant="binary_gaussian", variant_options={"num_train": 64, "num_test": 32}, depth=10,
                   num_epochs=2, batch_size=16, normalize="featurewise")


@pytest.fixture
def trained(tmp_path):
    store = ResultsStore(tmp_path)
    run(CONFIG, store)
    return store


def test_stored_weights_give_the_trained_models_accuracy(trained):
    model = load_trained_model(CONFIG, trained)
    splits = load_data(CONFIG)
    record = trained.get(CONFIG)
    assert accuracy_of(model, splits.test_x, splits.test_y) == pytest.approx(record["history"][-1]["test_acc"])


def test_transform_rows_and_identity_at_strength_zero(trained):
    rows = transform_accuracies(CONFIG, ["noise", "flip"], strengths=(0.0, 1.0), store=trained)
    assert [(r["transform"], r["strength"]) for r in rows] == [
        ("noise", 0.0), ("noise", 1.0), ("flip", 0.0), ("flip", 1.0), ("test", 0.0)]
    model, splits = evaluation.model_and_data(CONFIG, trained)[0], load_data(CONFIG)
    clean = accuracy_of(model, splits.train_x, splits.train_y)
    assert rows[0]["accuracy"] == pytest.approx(clean) and rows[2]["accuracy"] == pytest.approx(clean)
    assert rows[-1]["accuracy"] == pytest.approx(accuracy_of(model, splits.test_x, splits.test_y))


def test_evaluated_model_has_batchnorm_statistics_of_its_training_images(trained):
    model, raw, to_model_space = evaluation.model_and_data(CONFIG, trained)
    stored = load_trained_model(CONFIG, trained)
    first_norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stored_norm = next(m for m in stored.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not torch.allclose(first_norm.running_mean, stored_norm.running_mean)  # re-estimated
    assert not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), stored.parameters()))  # weights kept


def test_evaluations_are_cached(trained, monkeypatch):
    first = transform_accuracies(CONFIG, ["smoothing"], store=trained, num_images=20)
    monkeypatch.setattr(evaluation, "accuracy_of", lambda *a: pytest.fail("recomputed a cached evaluation"))
    assert transform_accuracies(CONFIG, ["smoothing"], store=trained, num_images=20) == first
    assert first[0]["num_images"] == 20


def test_evaluating_a_run_that_is_not_stored_says_so(tmp_path):
    with pytest.raises(LookupError, match="run it first"):
        transform_accuracies(CONFIG, ["flip"], store=ResultsStore(tmp_path))
