"""The mlp encoder says, in one line, when it flattens images; on vectors it stays quiet."""

from __future__ import annotations

import warnings

import pytest
import torch

from trainables.config import EncoderConfig
from trainables.models.encoders import InputShape, build_encoder


def test_mlp_on_images_warns_once_on_one_line_and_flattens() -> None:
    with pytest.warns(UserWarning) as caught:
        encoder = build_encoder(EncoderConfig(arch="mlp"), InputShape(True, 3, 8, 192))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "flattens each 3x8x8 image into a 192-d vector" in message and "\n" not in message
    images = torch.randn(4, 3, 8, 8)
    encoder.eval()
    torch.testing.assert_close(encoder(images), encoder(images.reshape(4, 192)))


def test_mlp_on_vectors_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_encoder(EncoderConfig(arch="mlp"), InputShape(False, 0, None, 20))
