"""Activations, chosen by name from one registry.

Every activation is built as ``create_activation(name, num_channels, **options)`` and
reports ``out_channels``: ReLU keeps the width, CReLU, BReLU and RTSU double it along
the channel axis (dim 1). Model builders size the next layer from ``out_channels``.
"""

import math
from copy import deepcopy as copy_module

import torch
from torch import nn


INIT_SCHEMES = ("grid", "uniform")
GRID_STEP_DEG = 22.5
GRID_JITTER_DEG = 1.0
SHIFT_RANGE = 1.5


class ReLU(nn.Module):
    """max(x, 0), width unchanged."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.out_channels = num_channels

    def forward(self, x):
        return torch.relu(x)


class CReLU(nn.Module):
    """Concatenated ReLU: [max(x, 0), max(-x, 0)] on the channel axis; doubles the width."""

    def __init__(self, num_channels: int):
        super().__init__()
        self.out_channels = 2 * num_channels

    def forward(self, x):
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=1)


class BReLU(CReLU):
    """The paper's BReLU (its eq. 5).

    NOTE: eq. 5 defines BReLU(x) = [max(x, 0), max(-x, 0)], which is exactly CReLU, so
    this class is CReLU under the paper's name; the two must give identical results.
    """


class _RTSUFunction(torch.autograd.Function):
    """RTSU forward and a backward that keeps only the sign mask of the input.

    With p = max(x, 0) and n = min(x, 0) = x - p, per channel c:
        y1 = cos(t) p - sin(t) n + sx = (cos + sin) p - sin x + sx,
        y2 = sin(t) p + cos(t) n + sy = (sin - cos) p + cos x + sy.
    So each half of the output is slope_p * relu(x) + slope_x * x + shift with per-channel slopes
    (vectors of width 2C: first half for y1, second for y2), written straight into its half of the
    output; the input's gradient is g1 * slope1 + g2 * slope2 with slope = slope_x (+ slope_p where x > 0).
    At exactly x = 0 the gradient is the negative branch's slope, the convention of ``torch.relu``
    (whose gradient at 0 is 0). ``rtsu_reference`` differs there: ``clamp`` passes the gradient of
    both branches at 0, so its slope at 0 is their sum, which is neither one-sided derivative.
    """

    @staticmethod
    def forward(ctx, x, slope_p, slope_x, shift):
        channels = x.shape[1]
        positive = torch.relu(x)
        out = torch.empty((x.shape[0], 2 * channels) + x.shape[2:], dtype=x.dtype, device=x.device,
                          memory_format=_layout(x))
        for half in (slice(0, channels), slice(channels, 2 * channels)):
            linear = torch.addcmul(shift[:, half], x, slope_x[:, half])
            torch.addcmul(linear, positive, slope_p[:, half], out=out[:, half])
        ctx.save_for_backward(x > 0, slope_p, slope_x)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        positive, slope_p, slope_x = ctx.saved_tensors
        channels = positive.shape[1]
        both = slope_p + slope_x
        slope_1 = torch.where(positive, both[:, :channels], slope_x[:, :channels])
        slope_2 = torch.where(positive, both[:, channels:], slope_x[:, channels:])
        grad_x = torch.addcmul(grad_out[:, :channels] * slope_1, grad_out[:, channels:], slope_2)
        return grad_x, None, None, None


def _layout(x):
    """channels_last for a 4-D input stored that way, so the output keeps the input's layout."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class RTSU(nn.Module):
    """Rigid transformation switch unit: f(x) = R(theta) k(x) + s with k(x) = [max(x,0), min(x,0)].

    Each channel c has a fixed angle theta_c and shift (sx_c, sy_c), stored as buffers
    (saved with the model, never trained). The output is [y1, y2] on the channel axis,
    so the width doubles. Initialisations from the paper:
      - ``grid`` (section II-C1): theta_c = 22.5 deg * c + U(-1, 1) deg;
      - ``uniform`` (section II-C2): theta_c ~ U(0, 360) deg.
    Both draw sx_c, sy_c ~ U(-1.5, 1.5). Pass ``generator`` for a seeded draw.
    """

    def __init__(self, num_channels: int, init: str = "grid", generator: torch.Generator | None = None):
        super().__init__()
        if init not in INIT_SCHEMES:
            raise ValueError(f"RTSU init must be one of {INIT_SCHEMES}, got {init!r}")
        self.out_channels = 2 * num_channels
        self.init = init
        theta = sample_rtsu_angles(num_channels, init, generator)
        shift = (torch.rand(2, num_channels, generator=generator, dtype=torch.float64) * 2 - 1) * SHIFT_RANGE
        self.register_buffer("theta", theta.float())
        self.register_buffer("shift", shift.float())

    @classmethod
    def from_parameters(cls, theta, shift_x, shift_y):
        """An RTSU with given angles (radians) and shifts, one entry per channel."""
        theta = torch.as_tensor(theta, dtype=torch.float32).reshape(-1)
        unit = cls(theta.numel())
        unit.theta.copy_(theta)
        unit.shift.copy_(torch.stack([torch.as_tensor(shift_x).reshape(-1), torch.as_tensor(shift_y).reshape(-1)]))
        return unit

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        cos, sin = torch.cos(self.theta), torch.sin(self.theta)
        slope_p = torch.cat([cos + sin, sin - cos]).to(x.dtype).view(shape)
        slope_x = torch.cat([-sin, cos]).to(x.dtype).view(shape)
        shift = self.shift.reshape(-1).to(x.dtype).view(shape)
        return _RTSUFunction.apply(x, slope_p, slope_x, shift)

    def extra_repr(self):
        return f"num_channels={self.theta.numel()}, init={self.init!r}"


def rtsu_reference(x, theta, shift_x, shift_y):
    """RTSU written literally from its definition with plain torch ops (autograd keeps all intermediates)."""
    shape = (1, -1) + (1,) * (x.dim() - 2)
    theta = torch.as_tensor(theta, dtype=x.dtype).view(shape)
    shift_x = torch.as_tensor(shift_x, dtype=x.dtype).view(shape)
    shift_y = torch.as_tensor(shift_y, dtype=x.dtype).view(shape)
    p, n = torch.clamp(x, min=0), torch.clamp(x, max=0)
    y1 = torch.cos(theta) * p - torch.sin(theta) * n + shift_x
    y2 = torch.sin(theta) * p + torch.cos(theta) * n + shift_y
    return torch.cat([y1, y2], dim=1)


class RTSUReference(RTSU):
    """RTSU computed by ``rtsu_reference`` (plain torch ops): the slow path that checks the fast one."""

    def forward(self, x):
        return rtsu_reference(x, self.theta, self.shift[0], self.shift[1])


def with_reference_rtsu(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose RTSU units compute with plain torch ops; same parameters and buffers."""
    copy = copy_module(model)
    for module in copy.modules():
        if type(module) is RTSU:
            module.__class__ = RTSUReference  # same buffers and state_dict; only forward differs
    return copy


def sample_rtsu_angles(num_channels: int, init: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Angles in radians (float64) for one RTSU layer under the ``grid`` or ``uniform`` scheme."""
    if init == "grid":
        jitter = (torch.rand(num_channels, generator=generator, dtype=torch.float64) * 2 - 1) * GRID_JITTER_DEG
        degrees = GRID_STEP_DEG * torch.arange(num_channels, dtype=torch.float64) + jitter
    elif init == "uniform":
        degrees = torch.rand(num_channels, generator=generator, dtype=torch.float64) * 360.0
    else:
        raise ValueError(f"RTSU init must be one of {INIT_SCHEMES}, got {init!r}")
    return torch.remainder(degrees, 360.0) * (math.pi / 180.0)


ACTIVATIONS = {"relu": ReLU, "crelu": CReLU, "brelu": BReLU, "rtsu": RTSU}
ACTIVATION_OPTIONS = {"relu": (), "crelu": (), "brelu": (), "rtsu": ("init", "generator")}


def create_activation(name: str, num_channels: int, **options) -> nn.Module:
    """Build the activation ``name`` for ``num_channels`` input channels.

    Options an activation does not use (for example ``init`` for ReLU) are ignored, so
    one call site can build any entry of the registry.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    used = {key: value for key, value in options.items() if key in ACTIVATION_OPTIONS[name]}
    return ACTIVATIONS[name](num_channels, **used)
