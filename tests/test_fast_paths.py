"""The speed work changes no result: fast paths against the reference paths they replace."""

import pytest
import torch
import torch.nn.functional as F

from rtsu_lib.activations import RTSU, RTSUReference, with_reference_rtsu
from rtsu_lib.models import create_model
from rtsu_lib.training import TrainSettings, Trainer, flip_and_crop
from rtsu_lib.variants import create_variant


def tiny_data():
    splits = create_variant("binary_gaussian", seed=0, num_train=80, num_test=32)
    return splits.train_x[:, :, :16, :16].contiguous(), splits.train_y, splits.test_x[:, :, :16, :16], splits.test_y


def tiny_model(dropout=0.2):
    return create_model("wrn", depth=10, activation="rtsu", num_classes=2, dropout=dropout, seed=3)


SETTINGS = TrainSettings(num_epochs=3, batch_size=32, lr=0.05, augment=True, seed=5, weight_decay=5e-4,
                         lr_milestones=(2,))


def reference_fit(model, settings, train_x, train_y, test_x, test_y):
    """The loop the trainer replaced: augmentation drawn inside the batch loop, host reads every batch.

    channels_last as before: dropout draws its mask in memory order, so the layout is part of the result.
    """
    model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.weight_decay)
    history = []
    for epoch in range(settings.num_epochs):
        for group in optimizer.param_groups:
            group["lr"] = settings.lr_at(epoch)
        model.train()
        order, loss_sum, correct = torch.randperm(len(train_x), generator=generator), 0.0, 0
        for begin in range(0, len(order), settings.batch_size):
            index = order[begin:begin + settings.batch_size]
            x, y = flip_and_crop(train_x[index], generator), train_y[index]
            x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        model.eval()
        with torch.no_grad():
            test_logits = model(test_x.contiguous(memory_format=torch.channels_last))
        history.append({"train_loss": loss_sum / len(order), "train_acc": correct / len(order),
                        "test_loss": F.cross_entropy(test_logits, test_y).item(),
                        "test_acc": (test_logits.argmax(1) == test_y).float().mean().item()})
    return history


def test_reference_copy_has_the_same_state_and_the_same_outputs():
    model = tiny_model()
    reference = with_reference_rtsu(model)
    assert any(type(m) is RTSUReference for m in reference.modules())
    assert not any(type(m) is RTSUReference for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    x = torch.randn(4, 3, 16, 16)
    model.eval(), reference.eval()
    torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)


def test_fast_rtsu_matches_reference_in_forward_and_backward():
    unit = RTSU(6, init="uniform", generator=torch.Generator().manual_seed(1))
    reference = with_reference_rtsu(torch.nn.Sequential(unit))[0]
    x = torch.randn(5, 6, 7, 7, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(5, 12, 7, 7, dtype=torch.float64)
    fast_grad, = torch.autograd.grad(unit.double()(x), x, grad_out)
    ref_out = reference.double()(x)
    ref_grad, = torch.autograd.grad(ref_out, x, grad_out)
    torch.testing.assert_close(unit(x), ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(fast_grad, ref_grad, rtol=0, atol=1e-12)


def test_trainer_gives_the_metrics_of_the_reference_loop():
    data = tiny_data()
    fast = Trainer(tiny_model(), SETTINGS, device="cpu").fit(*data)
    slow = reference_fit(with_reference_rtsu(tiny_model()), SETTINGS, *data)
    for got, expected in zip(fast, slow):
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (key, got, expected)
    assert len(fast) == len(slow) == SETTINGS.num_epochs


def test_trainer_keeps_the_parameters_of_the_reference_loop():
    data = tiny_data()
    trainer = Trainer(tiny_model(dropout=0.0), SETTINGS, device="cpu")
    trainer.fit(*data)
    reference = with_reference_rtsu(tiny_model(dropout=0.0))
    reference_fit(reference, SETTINGS, *data)
    for (name, got), expected in zip(trainer.model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-3, msg=name)  # float32 reordering, 9 steps


@pytest.mark.slow
def test_compiled_trainer_runs_on_cpu_and_matches_eager():
    """The GPU path's torch.compile, exercised on the CPU (first compile: tens of seconds)."""
    data = tiny_data()
    settings = TrainSettings(num_epochs=1, batch_size=40, lr=0.05, augment=True, seed=5)
    eager = Trainer(tiny_model(dropout=0.0), settings, device="cpu", compile=False).fit(*data)
    compiled = Trainer(tiny_model(dropout=0.0), settings, device="cpu", compile=True)
    assert compiled.compiled
    history = compiled.fit(*data)
    assert history[0]["train_loss"] == pytest.approx(eager[0]["train_loss"], rel=1e-3)
    assert history[0]["test_acc"] == pytest.approx(eager[0]["test_acc"], abs=1e-6)
