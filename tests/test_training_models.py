"""The two architectures: shapes, the ResNet-18 stem, and the CNN's size."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import ResNet

from handwriting_ai.training.models import ARCHS, DEFAULT_ARCH, build_model, parse_arch


def test_archs() -> None:
    assert ARCHS == ("cnn", "resnet18")
    assert DEFAULT_ARCH == "cnn"


def test_both_map_digits_to_ten_logits() -> None:
    batch = torch.zeros(3, 1, 28, 28)
    for arch in ARCHS:
        model = build_model(arch).eval()
        with torch.no_grad():
            assert model(batch).shape == (3, 10)


def test_resnet18_stem() -> None:
    model = build_model("resnet18")
    assert isinstance(model, ResNet)
    assert isinstance(model.conv1, nn.Conv2d)
    assert model.conv1.in_channels == 1
    assert model.conv1.kernel_size == (3, 3)
    assert model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.fc.out_features == 10


def test_cnn_is_small() -> None:
    cnn = sum(p.numel() for p in build_model("cnn").parameters())
    resnet = sum(p.numel() for p in build_model("resnet18").parameters())
    assert cnn < 150_000
    assert resnet > 50 * cnn


def test_parse_arch() -> None:
    assert parse_arch("cnn") == "cnn"
    assert parse_arch("resnet18") == "resnet18"
    with pytest.raises(ValueError, match="unknown arch 'vgg'; choose one of cnn, resnet18"):
        parse_arch("vgg")


def test_cnn_weights_are_channels_last_and_train_so() -> None:
    model = build_model("cnn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    for conv in convs[1:]:  # the first has one input channel: both layouts are the same
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()
    loss = model(torch.rand(4, 1, 28, 28)).logsumexp(1).sum()
    torch.autograd.backward(loss)
    assert all(p.grad is not None for p in model.parameters())
    resnet = build_model("resnet18")
    assert isinstance(resnet, ResNet)
    assert resnet.conv1.weight.is_contiguous()  # as today
