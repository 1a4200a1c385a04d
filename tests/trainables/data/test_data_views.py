"""Views: shapes, dtype, normalisation, SCAN's strong operations, Cutout and the vector views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from trainables.data.augment import STRONG_OPS, Cutout, RandomOps, cutout_side
from trainables.data.views import ViewSettings, build_views

RGB = ViewSettings(image_size=32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
GRAY = ViewSettings(image_size=8, mean=(0.5,), std=(0.5,))


def random_image(mode: str, size: int, seed: int = 0) -> Image.Image:
    channels = 3 if mode == "RGB" else 1
    array = np.random.default_rng(seed).integers(0, 256, (size, size, channels), dtype=np.uint8)
    return Image.fromarray(array if channels == 3 else array[..., 0])


@pytest.mark.parametrize("mode, settings", [("RGB", RGB), ("L", GRAY)])
def test_image_views_shapes_and_dtype(mode: str, settings: ViewSettings) -> None:
    views = build_views(("val", "weak", "strong"), is_image=True, settings=settings)
    image = random_image(mode, settings.image_size)
    channels = len(settings.mean)
    for view in views.values():
        out = view(image)
        assert out.dtype == torch.float32 and out.shape == (channels, settings.image_size, settings.image_size)


def test_val_view_normalises_per_channel() -> None:
    image = random_image("RGB", 32, seed=1)
    out = build_views(("val",), True, RGB)["val"](image).numpy().transpose(1, 2, 0)
    expected = (np.asarray(image) / 255.0 - np.array(RGB.mean)) / np.array(RGB.std)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_val_view_centre_crops_larger_images() -> None:
    array = np.zeros((40, 40, 3), dtype=np.uint8)
    array[4:36, 4:36] = 255
    out = build_views(("val",), True, RGB)["val"](Image.fromarray(array))
    expected = (1.0 - np.array(RGB.mean)) / np.array(RGB.std)
    np.testing.assert_allclose(out.numpy().transpose(1, 2, 0), np.broadcast_to(expected, (32, 32, 3)), atol=1e-5)


def test_strong_differs_from_weak_and_is_repeatable() -> None:
    views = build_views(("weak", "strong"), True, RGB)
    image = random_image("RGB", 32, seed=2)
    torch.manual_seed(0)
    weak, strong = views["weak"](image), views["strong"](image)
    assert not torch.equal(weak, strong)
    torch.manual_seed(0)
    torch.testing.assert_close(views["weak"](image), weak, rtol=0, atol=0)
    torch.testing.assert_close(views["strong"](image), strong, rtol=0, atol=0)


def test_fourteen_strong_operations_keep_size_and_mode() -> None:
    assert len(STRONG_OPS) == 14
    torch.manual_seed(1)
    for mode in ("RGB", "L"):
        image = random_image(mode, 16, seed=3)
        for op in STRONG_OPS.values():
            out = op(image)
            assert out.size == image.size and out.mode == mode


def test_enhancement_factor_stays_in_range() -> None:
    grey = Image.new("L", (4, 4), 100)
    torch.manual_seed(2)
    values = [np.asarray(STRONG_OPS["brightness"](grey))[0, 0] for _ in range(300)]
    assert 5 <= min(values) < 40 and 160 < max(values) <= 195
    assert any(v < 100 for v in values) and any(v > 100 for v in values)


def test_random_ops_draws_four_with_replacement() -> None:
    drawn: list[int] = []
    random_ops = RandomOps(num_ops=4)
    random_ops.ops = [lambda image, i=i: drawn.append(i) or image for i in range(14)]
    torch.manual_seed(3)
    for _ in range(100):
        random_ops(Image.new("L", (4, 4)))
    assert len(drawn) == 400 and set(drawn) == set(range(14))
    chunks = [drawn[i : i + 4] for i in range(0, 400, 4)]
    assert any(len(set(chunk)) < 4 for chunk in chunks)


@pytest.mark.parametrize("size, side", [(32, 16), (96, 32), (224, 75), (8, 4), (64, 32)])
def test_cutout_side_follows_the_table(size: int, side: int) -> None:
    assert cutout_side(size) == side


def test_cutout_zeros_one_square_of_side_at_most_l() -> None:
    torch.manual_seed(4)
    cutout = Cutout(max_side=6)
    sides = []
    for _ in range(300):
        zeros = (cutout(torch.ones(3, 20, 20)) == 0).numpy()
        assert (zeros == zeros[0]).all()
        rows, cols = np.flatnonzero(zeros[0].any(axis=1)), np.flatnonzero(zeros[0].any(axis=0))
        assert zeros[0].sum() == len(rows) * len(cols)
        assert len(rows) <= 6 and len(cols) <= 6
        if 0 < rows[0] and rows[-1] < 19 and 0 < cols[0] and cols[-1] < 19:
            assert len(rows) == len(cols)
            sides.append(len(rows))
    assert set(sides) == set(range(1, 7))


@pytest.mark.parametrize("view, noise, drop", [("weak", 0.1, 0.1), ("strong", 0.2, 0.3)])
def test_vector_views_add_noise_and_drop_features(view: str, noise: float, drop: float) -> None:
    transform = build_views((view,), is_image=False, settings=ViewSettings(image_size=None))[view]
    torch.manual_seed(5)
    out = transform(torch.full((40000,), 1.0))
    dropped = out == 0
    assert abs(dropped.float().mean().item() - drop) < 0.01
    kept = out[~dropped]
    assert abs(kept.mean().item() - 1.0) < 0.01 and abs(kept.std().item() - noise) < 0.01


def test_vector_val_view_is_identity() -> None:
    vector = torch.randn(7)
    assert torch.equal(build_views(("val",), False, ViewSettings(None))["val"](vector), vector)
