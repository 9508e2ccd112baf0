import pytest

from rtsu_lib.cost import FORWARD_SHARE, RunCost, estimate_hours, notebook_parameters, profile_runs


def image_epochs(runs, notebook):
    return sum(run.image_epochs for run in runs if run.notebook == notebook)


def test_paper_profile_work_follows_its_parameter_files():
    runs = profile_runs("paper")
    # Fig. 3: N = 20k..100k, 100 epochs, 3 seeds; Fig. 4: 50,000 images, 100 epochs, 3 seeds
    assert image_epochs(runs, "fig3_gaussian") == (20 + 40 + 60 + 80 + 100) * 1000 * 100 * 3
    assert image_epochs(runs, "fig4_binary_cifar10") == 50_000 * 100 * 3
    # Fig. 2: 2 datasets x 4 activations x 3 seeds, 80 epochs; Figs. 6-11: 6 variants (notebook default) x 3 seeds
    assert image_epochs(runs, "fig2_activations") == 2 * 4 * 3 * 50_000 * 80
    assert image_epochs(runs, "fig6_11_generating_functions") == 6 * 3 * 50_000 * 100


def test_profile_file_overrides_the_notebook_defaults():
    assert notebook_parameters("fig3_gaussian", "paper")["sizes"][-1] == 100_000
    assert notebook_parameters("fig6_11_generating_functions", "paper")["variants"][0] == "binary_cifar10"


def test_hours_divide_work_by_the_speed_of_each_activation():
    runs = [RunCost("a", "rtsu", 100, 30, 2), RunCost("b", "relu", 100, 0, 1, extra_forward_images=30)]
    hours = estimate_hours(runs, {"rtsu": 1 / 3600, "relu": 2 / 3600})
    assert hours["a"] == pytest.approx(200 + FORWARD_SHARE * 60)
    assert hours["b"] == pytest.approx((100 + FORWARD_SHARE * 30) / 2)
    assert hours["total"] == pytest.approx(hours["a"] + hours["b"])
