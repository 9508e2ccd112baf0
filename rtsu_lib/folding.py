"""RTSU as CReLU followed by a fixed orthogonal map and a shift, and folding that into a conv.

Per channel c, with CReLU(x) = (max(x, 0), max(-x, 0)) = (p, -n):
    RTSU(x) = M_c CReLU(x) + s_c,   M_c = [[cos t, sin t], [sin t, -cos t]]  (orthogonal, det -1).
A convolution after RTSU therefore equals a convolution after CReLU with weights mixed by M
(``W'[:, j] = sum_i W[:, i] M[i, j]`` over each channel pair), plus the convolution of the
constant shift image. That last term is a constant per output channel away from the borders and
differs near them, where zero padding drops part of the shift; ``fold_into_conv`` returns it as
a per-position bias map, so the folded form is exact everywhere.
"""

import torch
import torch.nn.functional as F

from .activations import RTSU


def crelu_mixing_matrix(unit: RTSU) -> torch.Tensor:
    """The (2C, 2C) orthogonal map M with RTSU(x) = M CReLU(x) + shift on the channel axis."""
    channels = unit.theta.numel()
    cos, sin = torch.cos(unit.theta.double()), torch.sin(unit.theta.double())
    matrix = torch.zeros(2 * channels, 2 * channels, dtype=torch.float64)
    index = torch.arange(channels)
    matrix[index, index], matrix[index, index + channels] = cos, sin
    matrix[index + channels, index], matrix[index + channels, index + channels] = sin, -cos
    return matrix


def shift_vector(unit: RTSU) -> torch.Tensor:
    return unit.shift.double().reshape(-1)  # (sx_0 .. sx_{C-1}, sy_0 .. sy_{C-1})


def fold_into_conv(unit: RTSU, conv: torch.nn.Conv2d, height: int, width: int):
    """Weights W' and a (C_out, H', W') bias map with conv(RTSU(x)) = conv'(CReLU(x)) + bias_map."""
    if conv.groups != 1:
        raise NotImplementedError("folding is written for ungrouped convolutions")
    weight = conv.weight.detach().double()
    folded = torch.einsum("oikl,ij->ojkl", weight, crelu_mixing_matrix(unit))
    shift_image = shift_vector(unit).view(1, -1, 1, 1).expand(1, -1, height, width)
    bias_map = F.conv2d(shift_image, weight, None, conv.stride, conv.padding, conv.dilation)[0]
    if conv.bias is not None:
        bias_map = bias_map + conv.bias.detach().double().view(-1, 1, 1)
    return folded, bias_map
