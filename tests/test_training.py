import pytest
import torch
import torch.nn.functional as F

from rtsu_lib.models import create_model
from rtsu_lib.training import (TrainSettings, Trainer, TrainingDiverged, choose_device, flip_and_crop,
                               recalibrate_batchnorm)
from rtsu_lib.variants import create_variant


def tiny_data(seed=0):
    splits = create_variant("binary_gaussian", seed=seed, num_train=96, num_test=32)
    return splits.train_x[:, :, :16, :16].contiguous(), splits.train_y, splits.test_x[:, :, :16, :16], splits.test_y


def tiny_model(seed=0, dropout=0.2):
    return create_model("wrn", depth=10, activation="rtsu", num_classes=2, dropout=dropout, seed=seed)


SETTINGS = TrainSettings(num_epochs=3, batch_size=32, lr=0.05, augment=True, seed=7, weight_decay=5e-4,
                         lr_milestones=(2,))


class Interrupt(Exception):
    pass


def test_flip_and_crop_matches_per_image_reference():
    x = torch.randn(6, 3, 8, 8)
    generator = torch.Generator().manual_seed(0)
    out = flip_and_crop(x, generator, padding=2)
    # replay the same draws and build each image by hand
    replay = torch.Generator().manual_seed(0)
    offsets = torch.randint(0, 5, (2, 6), generator=replay)
    flips = torch.rand(6, generator=replay) < 0.5
    padded = F.pad(x, (2, 2, 2, 2))
    for i in range(6):
        top, left = offsets[0, i].item(), offsets[1, i].item()
        expected = padded[i, :, top:top + 8, left:left + 8]
        if flips[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected)
    assert flips.any() and not flips.all()


def test_flip_and_crop_leaves_input_alone_and_keeps_values():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    before = x.clone()
    out = flip_and_crop(x, torch.Generator().manual_seed(1), padding=0)
    assert torch.equal(x, before)
    assert torch.equal(out.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)


def test_lr_schedule_steps_at_milestones():
    settings = TrainSettings(num_epochs=100, lr=0.1, lr_milestones=(60, 80), lr_gamma=0.1)
    assert [settings.lr_at(e) for e in (0, 59)] == [0.1, 0.1]
    assert settings.lr_at(60) == pytest.approx(0.01) and settings.lr_at(80) == pytest.approx(0.001)


def test_training_reduces_loss_and_records_each_epoch():
    data = tiny_data()
    history = Trainer(tiny_model(dropout=0.0), TrainSettings(num_epochs=4, batch_size=16, lr=0.05)).fit(*data)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert set(history[0]) >= {"train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_same_seed_same_metrics():
    data = tiny_data()
    a = Trainer(tiny_model(), SETTINGS).fit(*data)
    b = Trainer(tiny_model(), SETTINGS).fit(*data)
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(a) == strip(b)


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    data = tiny_data()
    straight = Trainer(tiny_model(), SETTINGS)
    expected = straight.fit(*data)

    checkpoint = tmp_path / "run.pt"

    def stop_after_first(record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        Trainer(tiny_model(), SETTINGS, checkpoint_path=checkpoint).fit(*data, on_epoch=stop_after_first)
    # a new process would build everything again from the config; here, a new model and trainer
    resumed = Trainer(tiny_model(), SETTINGS, checkpoint_path=checkpoint)
    history = resumed.fit(*data)

    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(history) == strip(expected)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_for_other_settings_is_not_used(tmp_path):
    data = tiny_data()
    checkpoint = tmp_path / "run.pt"
    Trainer(tiny_model(), TrainSettings(num_epochs=1, batch_size=32), checkpoint_path=checkpoint).fit(*data)
    other = Trainer(tiny_model(), TrainSettings(num_epochs=2, batch_size=32, lr=0.3), checkpoint_path=checkpoint)
    assert len(other.fit(*data)) == 2 and other.history[0]["lr"] == 0.3


def test_unreadable_checkpoint_is_discarded(tmp_path):
    checkpoint = tmp_path / "run.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    history = Trainer(tiny_model(), TrainSettings(num_epochs=1, batch_size=32), checkpoint_path=checkpoint).fit(
        *tiny_data())
    assert len(history) == 1


def test_divergence_is_raised_with_its_epoch():
    x, y, tx, ty = tiny_data()
    trainer = Trainer(tiny_model(dropout=0.0), TrainSettings(num_epochs=3, batch_size=32, lr=1e6))
    with pytest.raises(TrainingDiverged) as error:
        trainer.fit(x * 1e4, y, tx, ty)
    assert error.value.epoch >= 1 and "diverged at epoch" in str(error.value)


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert choose_device().type == expected


def test_recalibrated_batchnorm_holds_the_average_batch_statistics_and_nothing_else_changes():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    model = torch.nn.Sequential(conv, torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 2))
    x = torch.randn(48, 3, 8, 8) * 3 + 1
    weights = [p.clone() for p in model.parameters()]
    recalibrate_batchnorm(model, x, batch_size=16, generator=torch.Generator().manual_seed(3))
    order = torch.randperm(48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        features = [conv(x[order[i:i + 16]]) for i in range(0, 48, 16)]
    means = torch.stack([f.mean(dim=(0, 2, 3)) for f in features]).mean(0)
    variances = torch.stack([f.var(dim=(0, 2, 3), unbiased=True) for f in features]).mean(0)
    norm = model[1]
    torch.testing.assert_close(norm.running_mean, means, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(norm.running_var, variances, rtol=1e-5, atol=1e-5)
    assert norm.momentum == 0.1 and not model.training and not norm.training
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))
    assert torch.equal(model(x), model(x))  # eval mode: dropout off, statistics fixed


def test_recalibration_batches_mix_classes_of_data_sorted_by_class():
    norm = torch.nn.BatchNorm2d(1)
    x = torch.cat([torch.zeros(32, 1, 2, 2), torch.ones(32, 1, 2, 2)])  # two "classes", sorted
    recalibrate_batchnorm(norm, x, batch_size=16, generator=torch.Generator().manual_seed(0))
    assert norm.running_var.item() > 0.1  # class-pure batches would give variance 0
