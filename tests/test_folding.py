import torch
import torch.nn.functional as F

from rtsu_lib.activations import RTSU, CReLU
from rtsu_lib.folding import crelu_mixing_matrix, fold_into_conv, shift_vector


def unit(channels=4, seed=0):
    return RTSU(channels, init="uniform", generator=torch.Generator().manual_seed(seed)).double()


def test_rtsu_is_an_orthogonal_map_of_crelu_plus_a_shift():
    u = unit()
    x = torch.randn(5, 4, dtype=torch.float64)
    matrix = crelu_mixing_matrix(u)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(8, dtype=torch.float64))
    expected = CReLU(4)(x) @ matrix.T + shift_vector(u)
    torch.testing.assert_close(u(x), expected)


def test_folded_conv_is_exact_everywhere_including_padded_borders():
    u = unit(3, seed=1)
    conv = torch.nn.Conv2d(6, 5, 3, padding=1, bias=False).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    folded, bias_map = fold_into_conv(u, conv, 8, 8)
    expected = conv(u(x))
    got = F.conv2d(CReLU(3)(x), folded, None, conv.stride, conv.padding) + bias_map
    torch.testing.assert_close(got, expected)


def test_shift_term_is_constant_only_away_from_the_border():
    u = unit(3, seed=2)
    conv = torch.nn.Conv2d(6, 2, 3, padding=1, bias=False).double()
    _, bias_map = fold_into_conv(u, conv, 8, 8)
    interior = bias_map[:, 1:-1, 1:-1]
    torch.testing.assert_close(interior, interior[:, :1, :1].expand_as(interior))
    assert not torch.allclose(bias_map[:, 0, 0], bias_map[:, 4, 4])


def test_strided_conv_folds_too():
    u = unit(2, seed=3)
    conv = torch.nn.Conv2d(4, 3, 3, stride=2, padding=1, bias=True).double()
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    folded, bias_map = fold_into_conv(u, conv, 8, 8)
    got = F.conv2d(CReLU(2)(x), folded, None, 2, 1) + bias_map
    torch.testing.assert_close(got, conv(u(x)))
