import math

import pytest
import torch

from rtsu_lib.activations import (ACTIVATIONS, CReLU, BReLU, RTSU, create_activation, rtsu_reference,
                                  sample_rtsu_angles)

CHANNELS = 5


def build(name, seed=0):
    return create_activation(name, CHANNELS, init="uniform", generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
class TestEveryActivation:
    def test_output_shape_matches_reported_width(self, name):
        act = build(name)
        x = torch.randn(3, CHANNELS, 4, 6)
        assert act(x).shape == (3, act.out_channels, 4, 6)
        assert act.out_channels in (CHANNELS, 2 * CHANNELS)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_keeps_dtype(self, name, dtype):
        act = build(name).to(dtype)
        assert act(torch.randn(2, CHANNELS, 3, 3, dtype=dtype)).dtype == dtype

    def test_gradients_are_finite_and_nonzero(self, name):
        x = torch.randn(4, CHANNELS, 3, 3, requires_grad=True)
        build(name)(x).square().sum().backward()
        assert torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0

    def test_input_is_not_changed(self, name):
        x = torch.randn(2, CHANNELS, 3, 3)
        before = x.clone()
        build(name)(x)
        assert torch.equal(x, before)

    def test_batched_equals_one_at_a_time(self, name):
        act = build(name)
        x = torch.randn(4, CHANNELS, 3, 3)
        single = torch.cat([act(x[i:i + 1]) for i in range(4)])
        torch.testing.assert_close(act(x), single)

    def test_same_seed_same_result_other_seed_other_unit(self, name):
        x = torch.randn(2, CHANNELS, 3, 3)
        torch.testing.assert_close(build(name, seed=1)(x), build(name, seed=1)(x))
        if name == "rtsu":
            assert not torch.allclose(build(name, seed=1)(x), build(name, seed=2)(x))

    def test_works_on_flat_features(self, name):
        act = build(name)
        assert act(torch.randn(7, CHANNELS)).shape == (7, act.out_channels)

    def test_trains_nothing(self, name):
        assert list(build(name).parameters()) == []


def test_crelu_is_relu_of_x_and_of_minus_x():
    x = torch.tensor([[-2.0, 0.0, 3.0]]).view(1, 3)
    torch.testing.assert_close(CReLU(3)(x), torch.tensor([[0.0, 0.0, 3.0, 2.0, 0.0, 0.0]]))


def test_brelu_is_exactly_crelu():
    x = torch.randn(3, 4, 5, 5)
    assert torch.equal(BReLU(4)(x), CReLU(4)(x))


@pytest.mark.parametrize("degrees", [0.0, 90.0, 180.0])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.7, -1.2)])
def test_rtsu_against_its_definition(degrees, shift):
    """R(theta) [max(x,0), min(x,0)] + s written out by hand for x = 2 and x = -3."""
    unit = RTSU.from_parameters([math.radians(degrees)], [shift[0]], [shift[1]])
    x = torch.tensor([[2.0], [-3.0]])
    out = unit(x)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # x = 2: k = (2, 0) -> (2c, 2s); x = -3: k = (0, -3) -> (3s, -3c)
    expected = torch.tensor([[2 * c, 2 * s], [3 * s, -3 * c]]) + torch.tensor(shift)
    torch.testing.assert_close(out, expected.float(), atol=1e-6, rtol=0)


def test_rtsu_at_zero_degrees_is_relu_and_min_plus_shift():
    unit = RTSU.from_parameters([0.0, 0.0], [0.5, 0.5], [-1.0, -1.0])
    x = torch.randn(6, 2)
    torch.testing.assert_close(unit(x), torch.cat([x.clamp(min=0) + 0.5, x.clamp(max=0) - 1.0], dim=1))


def test_rtsu_matches_reference_and_gradcheck():
    unit = RTSU(3, init="uniform", generator=torch.Generator().manual_seed(4)).double()
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    ref = rtsu_reference(x, unit.theta, unit.shift[0], unit.shift[1])
    torch.testing.assert_close(unit(x), ref)
    g = torch.randn_like(ref)
    (grad_unit,) = torch.autograd.grad(unit(x), x, g)
    (grad_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(grad_unit, grad_ref)
    assert torch.autograd.gradcheck(lambda t: unit(t), (x[:1, :, :2, :2].detach().requires_grad_(),))


def test_rtsu_gradient_at_zero_is_the_negative_branch_slope_like_relu():
    theta, shift = math.radians(30.0), 0.25
    unit = RTSU.from_parameters([theta], [shift], [shift])
    x = torch.zeros(1, 1, requires_grad=True)
    (grad_y1,) = torch.autograd.grad(unit(x)[0, 0], x)
    (grad_y2,) = torch.autograd.grad(unit(x)[0, 1], x)
    assert grad_y1.item() == pytest.approx(-math.sin(theta))  # d/dx of -sin(t) min(x, 0)
    assert grad_y2.item() == pytest.approx(math.cos(theta))  # d/dx of cos(t) min(x, 0)
    (relu_grad,) = torch.autograd.grad(torch.relu(x).sum(), x)
    assert relu_grad.item() == 0.0  # the convention followed: relu'(0) = 0


def test_rtsu_backward_keeps_only_a_sign_mask():
    """Everything saved for backward that has the input's size is a bool mask (1 byte per value)."""
    unit = RTSU(4)
    x = torch.randn(8, 4, 6, 6, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        unit(x)
    big = [t for t in saved if t.numel() == x.numel()]
    assert big and all(t.dtype == torch.bool for t in big)
    assert sum(t.numel() * t.element_size() for t in saved) < x.numel() * 1.01 + 1024


def test_grid_angles_follow_the_paper():
    theta = torch.rad2deg(sample_rtsu_angles(40, "grid", torch.Generator().manual_seed(0)))
    target = torch.remainder(22.5 * torch.arange(40, dtype=torch.float64), 360.0)
    gap = torch.remainder(theta - target + 180.0, 360.0) - 180.0
    assert gap.abs().max() <= 1.0 and gap.abs().max() > 0.5  # jittered, within +-1 degree


def test_uniform_angles_cover_the_circle_and_shifts_in_range():
    unit = RTSU(4000, init="uniform", generator=torch.Generator().manual_seed(0))
    degrees = torch.rad2deg(unit.theta)
    assert degrees.min() >= 0 and degrees.max() < 360
    assert degrees.min() < 2 and degrees.max() > 358
    assert unit.shift.abs().max() <= 1.5 and unit.shift.abs().max() > 1.49


def test_rtsu_angles_are_saved_with_the_model_but_not_trained():
    unit = RTSU(3)
    assert set(unit.state_dict()) == {"theta", "shift"}


def test_unknown_activation_and_init_are_named():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        create_activation("gelu", 3)
    with pytest.raises(ValueError, match="'spiral'"):
        RTSU(3, init="spiral")
