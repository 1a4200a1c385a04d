"""Views: shapes, dtype, normalisation, SCAN's strong operations, Cutout and the vector views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from trainables.data.augment import STRONG_OPS, Cutout, RandomOps, cutout_side
from trainables.data import DATASETS
from trainables.data.views import FULL, GLYPH, SMALL, ViewPolicy, ViewSettings, build_views
from trainables.pretrain.augment import AugmentConfig

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
    for mode in ("RGB", "L"):
        image = random_image(mode, 16, seed=3)
        for op in STRONG_OPS.values():
            for level in (-1.0, -0.3, 0.0, 0.7, 1.0):
                out = op(image, level)
                assert out.size == image.size and out.mode == mode


@pytest.mark.parametrize("level, factor", [(1.0, 1.95), (-1.0, 0.05), (0.5, 1.5), (-0.5, 0.5)])
def test_enhancement_factor_is_one_plus_signed_magnitude(level: float, factor: float) -> None:
    out = STRONG_OPS["brightness"](Image.new("L", (4, 4), 100), level)
    assert abs(int(np.asarray(out)[0, 0]) - 100 * factor) <= 1


def test_rotation_and_translation_scale_with_level() -> None:
    image = random_image("L", 20, seed=4)
    expected = image.rotate(-15.0, fillcolor=128)
    np.testing.assert_array_equal(np.asarray(STRONG_OPS["rotate"](image, -0.5)), np.asarray(expected))
    shifted = np.asarray(STRONG_OPS["translate_x"](image, 1.0))  # 0.1 * 20 = 2 px
    np.testing.assert_array_equal(shifted[:, :-2], np.asarray(image)[:, 2:])
    assert (shifted[:, -2:] == 128).all()


@pytest.mark.parametrize("level, bits", [(0.0, 8), (0.19, 8), (0.21, 7), (-0.99, 4), (1.0, 4)])
def test_posterize_keeps_8_down_to_4_bits(level: float, bits: int) -> None:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = np.asarray(STRONG_OPS["posterize"](Image.fromarray(values), level))
    np.testing.assert_array_equal(out, values & np.uint8((0xFF << (8 - bits)) & 0xFF))


def test_random_ops_draws_four_with_replacement_at_levels_in_range() -> None:
    drawn: list[int] = []
    levels: list[float] = []

    def recorder(index: int):
        def op(image: Image.Image, level: float) -> Image.Image:
            drawn.append(index)
            levels.append(level)
            return image

        return op

    random_ops = RandomOps(num_ops=4)
    random_ops.ops = [recorder(i) for i in range(14)]
    torch.manual_seed(3)
    for _ in range(100):
        random_ops(Image.new("L", (4, 4)))
    assert len(drawn) == 400 and set(drawn) == set(range(14))
    assert any(len(set(drawn[i : i + 4])) < 4 for i in range(0, 400, 4))
    assert -1 <= min(levels) < -0.9 and 0.9 < max(levels) <= 1


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


def test_vector_noise_is_relative_to_each_feature_std() -> None:
    feature_std = torch.tensor([0.0, 1.0, 10.0])
    settings = ViewSettings(None, policy=ViewPolicy(), feature_std=feature_std)
    transform = build_views(("weak",), is_image=False, settings=settings)["weak"]
    torch.manual_seed(6)
    out = torch.stack([transform(torch.ones(3)) for _ in range(20000)])
    kept = out != 0
    assert (out[:, 0][kept[:, 0]] == 1).all()  # a constant feature takes no noise
    for column, std in ((1, 1.0), (2, 10.0)):
        assert abs(out[:, column][kept[:, column]].std().item() - 0.1 * std) < 0.02 * std


@pytest.mark.parametrize(
    "name, size, flip, strength",
    [("digits", 8, False, GLYPH), ("mnist", 28, False, GLYPH), ("coil20", 32, True, SMALL), ("coil20", 128, True, FULL),
     ("cifar10", 32, True, FULL), ("stl10", 96, True, FULL), ("image_folder", 16, False, GLYPH),
     ("image_folder", 48, True, SMALL)],
)
def test_registered_policies(name: str, size: int, flip: bool, strength) -> None:
    policy = DATASETS.get(name).views
    params = policy.for_image(size)
    assert params.flip is flip and policy.strength(size) is strength
    assert (params.crop_scale, params.strong_ops, params.strong_magnitude) == (
        strength.crop_scale, strength.strong_ops, strength.strong_magnitude
    )
    assert AugmentConfig.for_image_size(size, 1, policy.mirrors(size)).flip_prob == (0.5 if flip else 0.0)


def test_views_never_mirror_where_the_policy_forbids_it() -> None:
    array = np.zeros((8, 8), dtype=np.uint8)
    array[:, :4] = 255  # a bright left half: a mirror would move it right
    image = Image.fromarray(array)
    for mirror, mirrored_share in ((False, 0.0), (True, 0.5)):
        settings = ViewSettings(8, mean=(0.5,), std=(0.5,), policy=ViewPolicy(mirror=mirror))
        weak = build_views(("weak",), True, settings)["weak"]  # the strong view starts with the same crop and flip
        torch.manual_seed(7)
        mirrored = [(lambda c: c[:4].mean() < c[4:].mean())(weak(image)[0].mean(dim=0)) for _ in range(400)]
        assert abs(np.mean(mirrored) - mirrored_share) < 0.07
