"""The VGG graph: names, truncation, shapes, binding."""

import mxnet as mx
import numpy as np
import pytest

import model_vgg19


def test_layer_names_map_to_positions():
    plan = model_vgg19.layer_plan(19)
    assert plan[:5] == [
        ("conv", "relu1_1"),
        ("conv", "relu1_2"),
        ("pool", "pool1"),
        ("conv", "relu2_1"),
        ("conv", "relu2_2"),
    ]
    assert plan.index(("conv", "relu4_2")) == 12  # (2+1) + (2+1) + (4+1) entries, then relu4_1
    assert len(model_vgg19.relu_names(19)) == 16
    assert len(model_vgg19.relu_names(16)) == 13
    assert "relu3_4" in model_vgg19.relu_names(19) and "relu3_4" not in model_vgg19.relu_names(16)
    assert model_vgg19.conv_names(16)[-1] == "conv5_3"


def test_unknown_layer_fails_with_the_valid_names():
    with pytest.raises(ValueError, match="relu9_9.*VGG-16 has relu1_1, relu1_2"):
        model_vgg19.check_layer_names(["relu1_1", "relu9_9"], 16, "style")
    with pytest.raises(ValueError, match="pooling must be one of avg, max"):
        model_vgg19.VGGFeatures(16, ["relu1_1"], pooling="mean")


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_symbol_outputs_shapes_and_truncation(pooling):
    outputs = model_vgg19.get_symbol(19, ["relu1_1", "relu4_2", "relu5_1"], pooling)
    group = mx.sym.Group(list(outputs.values()))
    assert group.list_outputs() == ["relu1_1_output", "relu4_2_output", "relu5_1_output"]
    args = group.list_arguments()
    assert args[:3] == ["data", "conv1_1_weight", "conv1_1_bias"]
    assert "conv4_4_weight" in args and "conv5_2_weight" not in args  # truncated at relu5_1
    _, shapes, _ = group.infer_shape(data=(1, 3, 64, 48))
    assert shapes == [(1, 64, 64, 48), (1, 512, 8, 6), (1, 512, 4, 3)]
    ops = group.tojson()
    assert f'"pool_type": "{pooling}"' in ops


def test_bind_gives_gradient_only_to_named_arrays():
    outputs = model_vgg19.get_symbol(16, ["relu1_1"], channels=[2, 2, 2, 2, 2])
    sym = mx.sym.sum(outputs["relu1_1"])
    args = {
        "data": mx.nd.ones((1, 3, 4, 4)),
        "conv1_1_weight": mx.nd.ones((2, 3, 3, 3)),
        "conv1_1_bias": mx.nd.zeros(2),
    }
    grad = mx.nd.zeros((1, 3, 4, 4))
    ex = model_vgg19.bind(sym, mx.cpu(), args, grad_arrays={"data": grad})
    ex.forward(is_train=True)
    ex.backward([mx.nd.ones(1)])
    assert ex.arg_dict["data"] is args["data"]  # shared, not copied
    assert np.abs(grad.asnumpy()).sum() > 0
    assert ex.grad_dict.get("conv1_1_weight") is None
    with pytest.raises(ValueError, match="conv1_1_bias"):
        model_vgg19.bind(sym, mx.cpu(), {k: v for k, v in args.items() if k != "conv1_1_bias"})
