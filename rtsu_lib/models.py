"""Wide residual networks (Zagoruyko and Komodakis, 2016) with a pluggable activation.

WRN-d-k: a 3x3 stem conv to 16 channels, then three groups of (d - 4) / 6 pre-activation
basic blocks of widths 16k, 32k, 64k (stride 2 on the first conv of groups 2 and 3), then
BN, activation, global average pooling and a linear layer. A block is
BN-act-conv3x3-BN-act-dropout-conv3x3, with a 1x1 projection shortcut (taken from the
activated input) where the shape changes. Widths after a channel-doubling activation
come from the activation's ``out_channels``.
"""

import torch
from torch import nn

from .activations import create_activation


class PreActBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride, dropout, make_act):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = make_act(in_channels)
        self.conv1 = nn.Conv2d(self.act1.out_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = make_act(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(self.act2.out_channels, out_channels, 3, 1, padding=1, bias=False)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (
            nn.Conv2d(self.act1.out_channels, out_channels, 1, stride, bias=False) if needs_projection else None
        )

    def forward(self, x):
        activated = self.act1(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(activated)
        out = self.conv1(activated)
        out = self.conv2(self.dropout(self.act2(self.bn2(out))))
        return out + residual


class WideResNet(nn.Module):
    def __init__(self, depth=16, widen_factor=1, num_classes=10, activation="rtsu", dropout=0.0,
                 in_channels=3, activation_options=None):
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth}")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        options = dict(activation_options or {})

        def make_act(num_channels):
            return create_activation(activation, num_channels, **options)

        blocks_per_group = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, padding=1, bias=False)
        layers, channels = [], widths[0]
        for group, width in enumerate(widths[1:]):
            for block in range(blocks_per_group):
                stride = 2 if group > 0 and block == 0 else 1
                layers.append(PreActBlock(channels, width, stride, dropout, make_act))
                channels = width
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(channels)
        self.act = make_act(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.act.out_channels, num_classes)
        self._init_weights()

    def _init_weights(self):
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x):
        # x: (B, C, H, W) -> logits (B, num_classes)
        out = self.blocks(self.stem(x))
        out = self.pool(self.act(self.bn(out)))
        return self.fc(torch.flatten(out, 1))


def wide_resnet(depth=16, widen_factor=1, **kwargs):
    return WideResNet(depth=depth, widen_factor=widen_factor, **kwargs)


MODELS = {"wrn": wide_resnet}


def create_model(name="wrn", *, seed=0, **kwargs) -> nn.Module:
    """Build model ``name`` with its weights and any RTSU angles drawn from ``seed``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    generator = torch.Generator().manual_seed(seed)
    options = dict(kwargs.pop("activation_options", None) or {})
    options.setdefault("generator", generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name](activation_options=options, **kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
