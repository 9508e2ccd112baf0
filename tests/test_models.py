import pytest
import torch
from torch import nn

from rtsu_lib.activations import ACTIVATIONS
from rtsu_lib.models import PreActBlock, count_parameters, create_model


def reference_wrn_parameters(depth, k, num_classes, act_factor=1):
    """Parameter count of the reference WRN-d-k, derived from its structure by hand.

    Convs have no bias; BN has a weight and a bias per channel; a channel-doubling activation
    (act_factor 2) doubles the inputs of every conv and of the linear layer that follow it.
    """
    n = (depth - 4) // 6
    widths = [16, 16 * k, 32 * k, 64 * k]
    total = 3 * 16 * 9  # stem
    in_ch = 16
    for out_ch in widths[1:]:
        for block in range(n):
            total += 2 * in_ch                              # bn1
            total += act_factor * in_ch * out_ch * 9        # conv1
            total += 2 * out_ch                             # bn2
            total += act_factor * out_ch * out_ch * 9       # conv2
            if in_ch != out_ch:  # in WRN every stride-2 block also changes the width
                total += act_factor * in_ch * out_ch        # 1x1 projection
            in_ch = out_ch
    total += 2 * in_ch                                      # final bn
    total += act_factor * in_ch * num_classes + num_classes  # linear
    return total


def test_wrn_16_1_relu_has_the_reference_count():
    assert reference_wrn_parameters(16, 1, 10) == 175_066
    assert count_parameters(create_model("wrn", depth=16, widen_factor=1, activation="relu")) == 175_066


@pytest.mark.parametrize("depth,k,classes", [(10, 1, 2), (16, 2, 100), (22, 4, 10), (28, 10, 10)])
def test_relu_wrn_counts_match_reference(depth, k, classes):
    model = create_model("wrn", depth=depth, widen_factor=k, num_classes=classes, activation="relu")
    assert count_parameters(model) == reference_wrn_parameters(depth, k, classes)


@pytest.mark.parametrize("activation", ["crelu", "brelu", "rtsu"])
def test_channel_doubling_nets_size_layers_from_the_activation(activation):
    model = create_model("wrn", depth=16, widen_factor=1, activation=activation)
    assert count_parameters(model) == reference_wrn_parameters(16, 1, 10, act_factor=2) == 348_762
    for block in model.blocks:
        assert block.conv1.in_channels == block.act1.out_channels
        assert block.conv2.in_channels == block.act2.out_channels


def test_strides_and_feature_map_sizes():
    model = create_model("wrn", depth=16, widen_factor=1, activation="rtsu")
    shapes = []
    hooks = [block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for block in model.blocks]
    logits = model(torch.randn(2, 3, 32, 32))
    assert shapes == [(16, 32, 32)] * 2 + [(32, 16, 16)] * 2 + [(64, 8, 8)] * 2
    assert logits.shape == (2, 10)
    strides = [(b.conv1.stride, b.conv2.stride) for b in model.blocks]
    assert strides == [((1, 1), (1, 1))] * 2 + [((2, 2), (1, 1)), ((1, 1), (1, 1))] * 2
    for hook in hooks:
        hook.remove()


def test_projection_only_where_the_shape_changes():
    model = create_model("wrn", depth=16, widen_factor=2, activation="relu")
    has_projection = [block.shortcut is not None for block in model.blocks]
    assert has_projection == [True, False, True, False, True, False]
    model = create_model("wrn", depth=16, widen_factor=1, activation="relu")
    assert [block.shortcut is not None for block in model.blocks] == [False, False, True, False, True, False]


def test_dropout_sits_between_the_two_convs():
    model = create_model("wrn", depth=16, widen_factor=1, activation="relu", dropout=0.3)
    block = model.blocks[0]
    order = [name for name, _ in block.named_children()]
    assert order.index("conv1") < order.index("dropout") < order.index("conv2")
    assert isinstance(block.dropout, nn.Dropout) and block.dropout.p == 0.3
    # and in the forward pass: dropout's output feeds conv2
    seen = {}
    block.dropout.register_forward_hook(lambda m, i, o: seen.setdefault("dropout", o))
    block.conv2.register_forward_hook(lambda m, i, o: seen.setdefault("conv2_in", i[0]))
    block.train()
    block(torch.randn(2, 16, 8, 8))
    assert seen["conv2_in"] is seen["dropout"]


def test_no_dropout_module_when_rate_is_zero():
    model = create_model("wrn", activation="relu")
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())


def test_same_seed_same_model():
    a, b = (create_model("wrn", depth=10, activation="rtsu", seed=3) for _ in range(2))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    c = create_model("wrn", depth=10, activation="rtsu", seed=4)
    assert not torch.equal(a.blocks[0].act1.theta, c.blocks[0].act1.theta)


def test_model_creation_leaves_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    create_model("wrn", depth=10, activation="rtsu", seed=9)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds_a_trainable_model(activation):
    model = create_model("wrn", depth=10, activation=activation, num_classes=3)
    loss = model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="depth must be 6n \\+ 4"):
        create_model("wrn", depth=15)
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        create_model("vgg")
    with pytest.raises(ValueError, match="unknown activation"):
        create_model("wrn", activation="swish")


def test_block_is_preactivation():
    block = PreActBlock(16, 32, 2, 0.0, lambda c: ACTIVATIONS["relu"](c))
    assert [name for name, _ in block.named_children()][:3] == ["bn1", "act1", "conv1"]
