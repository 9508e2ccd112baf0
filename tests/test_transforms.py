import math

import numpy as np
import pytest
import torch

from rtsu_lib.transforms import (TRANSFORMS, Affine, Smoothing, create_transform, gaussian_kernel,
                                 params_of_image, rotation_matrices, warp)


def images(batch=6, seed=0, dtype=torch.float32):
    return torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def draw(transform, x, seed=0):
    return transform.sample(len(x), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
class TestEveryTransform:
    def test_shape_dtype_and_no_in_place_change(self, name):
        x = images()
        before = x.clone()
        out = create_transform(name)(x, torch.Generator().manual_seed(0))
        assert out.shape == x.shape and out.dtype == x.dtype
        assert torch.equal(x, before)

    def test_same_seed_same_result(self, name):
        t = create_transform(name)
        a = t(images(), torch.Generator().manual_seed(3))
        b = t(images(), torch.Generator().manual_seed(3))
        assert torch.equal(a, b)

    def test_batched_equals_one_image_at_a_time(self, name):
        t, x = create_transform(name), images()
        params = draw(t, x)
        whole = t.apply(x, params)
        for i in range(len(x)):
            single = {k: (v[i:i + 1] if torch.is_tensor(v) else {kk: vv[i:i + 1] for kk, vv in v.items()})
                      for k, v in params.items()}
            torch.testing.assert_close(t.apply(x[i:i + 1], single), whole[i:i + 1], atol=1e-6, rtol=0)

    def test_matches_the_scipy_reference(self, name):
        """The torch path against the paper's per-image scipy calls (order 1 for the geometric ones)."""
        t = create_transform(name)
        for dtype, tolerance in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
            x = images(dtype=dtype)
            params = draw(t, x)
            out = t.apply(x, params).double().numpy()
            reference = np.stack([t.reference(x[i].double().numpy(), params_of_image(params, i))
                                  for i in range(len(x))])
            assert np.abs(out - reference).max() <= tolerance, dtype

    def test_strength_zero_is_the_identity(self, name):
        x = images()
        torch.testing.assert_close(create_transform(name, 0.0)(x, torch.Generator().manual_seed(0)), x,
                                   atol=1e-6, rtol=0)

    def test_the_paper_setting_changes_the_image(self, name):
        x = images()
        assert not torch.allclose(create_transform(name)(x, torch.Generator().manual_seed(0)), x, atol=1e-3)


@pytest.mark.parametrize("bad", [-1.0, "strong", None, True, 11])
def test_bad_strength_is_named(bad):
    with pytest.raises(ValueError, match="strength="):
        create_transform("noise", bad)


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match="unknown transform 'blur'"):
        create_transform("blur")


def test_rotation_by_180_degrees_turns_about_pixel_15_5():
    x = images(2)
    turned = warp(x, rotation_matrices(torch.tensor([math.pi, math.pi], dtype=torch.float64)))
    torch.testing.assert_close(turned, x.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_matrix_maps_output_coordinates_to_input_coordinates():
    """diag(0.5, 0.5) reads input at half the distance from the centre: a zoom in, not out."""
    x = torch.zeros(1, 1, 32, 32)
    x[0, 0, 15, 17] = 1.0  # 1.5 columns right of the centre (15.5, 15.5) at row 15
    out = warp(x, torch.tensor([[[0.5, 0.0], [0.0, 0.5]]], dtype=torch.float64))
    # output (14.5, 18.5) -> input (15, 17); the bright spot grows and moves outwards to column 18-19
    assert out[0, 0].argmax() // 32 in (14, 15) and out[0, 0].argmax() % 32 in (18, 19)
    assert out[0, 0, 15, 17] < out[0, 0, 15, 18]


def test_samples_outside_the_image_are_zero():
    x = torch.ones(1, 1, 32, 32)
    out = warp(x, rotation_matrices(torch.tensor([math.pi / 4], dtype=torch.float64)))
    assert out[0, 0, 0, 0] == 0 and out[0, 0, 15, 15] == 1


def test_smoothing_never_mixes_channels():
    x = torch.zeros(1, 3, 32, 32)
    x[0, 1, 10, 10] = 1.0
    out = Smoothing(1.0).apply(x, {})
    assert out[0, 0].abs().max() == 0 and out[0, 2].abs().max() == 0
    assert out[0, 1].sum().item() == pytest.approx(1.0, abs=1e-6)  # mass kept away from the border
    assert 0 < out[0, 1, 10, 12] < out[0, 1, 10, 11] < out[0, 1, 10, 10]


def test_gaussian_kernel_is_scipys():
    from scipy.ndimage import _filters

    expected = _filters._gaussian_kernel1d(0.5, 0, int(4.0 * 0.5 + 0.5))[::-1]
    np.testing.assert_allclose(gaussian_kernel(0.5).numpy(), expected, atol=1e-15)


def test_shuffle_is_a_fresh_bijection_per_image():
    t = create_transform("shuffle")
    params = draw(t, images(4))
    permutations = params["permutation"]
    for row in permutations:
        assert sorted(row.tolist()) == list(range(3072))
    assert not torch.equal(permutations[0], permutations[1])


def test_partial_shuffle_moves_only_the_chosen_share():
    params = draw(create_transform("shuffle", 0.25), images(3))
    moved = (params["permutation"] != torch.arange(3072)).float().mean(1)
    assert torch.all(moved <= 0.25 + 1e-9) and torch.all(moved > 0.2)
    assert all(sorted(row.tolist()) == list(range(3072)) for row in params["permutation"])


def test_noise_range_scales_with_strength():
    for strength in (1.0, 2.0):
        noise = draw(create_transform("noise", strength), images(50))["noise"]
        assert noise.abs().max() <= 0.02 * strength and noise.abs().max() > 0.019 * strength


def test_affine_draws_scales_of_the_papers_spread():
    params = Affine(1.0).sample(20000, torch.Generator().manual_seed(0))
    m = params["matrix"]
    # a rotation has determinant 1, so det(m) = (1 + a)(1 + b) with a, b ~ N(0, 0.3^2)
    determinants = torch.linalg.det(m)
    assert determinants.mean().item() == pytest.approx(1.0, abs=0.02)
    assert determinants.var().item() == pytest.approx((1 + 0.09) ** 2 - 1, rel=0.1)


def test_composite_applies_its_steps_in_each_images_drawn_order():
    t = create_transform("composite")
    x = images(8)
    params = draw(t, x)
    orders = {tuple(o.tolist()) for o in params["order"]}
    assert len(orders) > 1 and all(sorted(o) == [0, 1, 2] for o in orders)
    out = t.apply(x, params)
    for i in range(8):
        expected = t.reference(x[i].double().numpy(), params_of_image(params, i))
        np.testing.assert_allclose(out[i].numpy(), expected, atol=1e-4)
