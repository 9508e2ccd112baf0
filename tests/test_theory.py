import numpy as np
import pytest

from rtsu_lib.theory import (DATASETS_2D, build_two_layer_rtsu, in_convex_hull, linearly_separable,
                             make_2d_dataset)


def test_lp_says_separable_for_two_clusters_and_not_for_xor():
    clusters = np.array([[0, 0], [0.2, 0.1], [3, 3], [3.1, 2.8]])
    assert linearly_separable(clusters, [0, 0, 1, 1])
    xor_points = np.array([[0, 0], [1, 1], [0, 1], [1, 0]])
    assert not linearly_separable(xor_points, [0, 0, 1, 1])


def test_lp_separability_in_higher_dimensions():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5))
    assert linearly_separable(x, (x @ np.arange(1, 6) > 0.3).astype(int))
    assert not linearly_separable(np.r_[x, x[:1]], np.r_[np.zeros(30, int), [1]])  # a point in both classes


def test_convex_hull_membership():
    square = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    assert in_convex_hull([0.5, 0.5], square) and not in_convex_hull([1.5, 0.5], square)


@pytest.mark.parametrize("name", sorted(DATASETS_2D))
@pytest.mark.parametrize("seed", [0, 1])
def test_construction_fits_every_set_that_was_not_separable(name, seed):
    x, y = make_2d_dataset(name, seed=seed)
    assert not linearly_separable(x, y), "the example should need the construction"
    net = build_two_layer_rtsu(x, y, seed=seed)
    assert np.array_equal(net.scores(x) > 0, y == 1)
    assert linearly_separable(net.layer2_map(x), y)


def test_construction_does_not_depend_on_layer_one_angles():
    x, y = make_2d_dataset("xor")
    a, b = build_two_layer_rtsu(x, y, seed=0), build_two_layer_rtsu(x, y, seed=5)
    assert not np.allclose(a.layer1.theta.numpy(), b.layer1.theta.numpy())
    np.testing.assert_allclose(a.scores(x), b.scores(x), atol=1e-5)


def test_positives_sit_inside_their_groups_hull_and_negatives_outside():
    x, y = make_2d_dataset("two_moons")
    net = build_two_layer_rtsu(x, y)
    inside = x @ net.facet_w.T + net.facet_b <= 0
    for g, members in enumerate(net.groups):
        group_facets = net.facet_group == g
        assert inside[np.flatnonzero(y == 1)[members]][:, group_facets].all()
        assert not inside[y == 0][:, group_facets].all(axis=1).any()


def test_one_class_only_is_refused():
    with pytest.raises(ValueError, match="both classes"):
        build_two_layer_rtsu(np.zeros((3, 2)), [1, 1, 1])
