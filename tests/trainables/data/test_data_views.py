"""Batched views: shapes, dtype, normalisation, crops, SCAN's strong operations against PIL's, Cutout, the vector
views, and bitwise repeatability per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from torchvision.transforms import RandomResizedCrop

from trainables.config import DatasetConfig
from trainables.data import DATASETS, build_dataset
from trainables.data.augment import STRONG_OPS, Cutout, RandomOps, cutout_side
from trainables.data.views import FULL, GLYPH, SMALL, CropAndFlip, ViewPolicy, ViewSettings, build_views
from trainables.pretrain.augment import AugmentConfig

RGB = ViewSettings(image_size=32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
GRAY = ViewSettings(image_size=8, mean=(0.5,), std=(0.5,))


def random_pixels(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """uint8 [n, C, size, size]."""
    array = np.random.default_rng(seed).integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    return torch.from_numpy(array)


def to_pil(pixels: torch.Tensor) -> Image.Image:
    """uint8 [C, H, W] -> a PIL 'L' or 'RGB' image."""
    array = pixels.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def from_pil(image: Image.Image) -> np.ndarray:
    """A PIL image -> float [C, H, W]."""
    array = np.asarray(image, dtype=np.float64)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


@pytest.mark.parametrize("settings", [RGB, GRAY])
def test_image_views_shapes_and_dtype(settings: ViewSettings) -> None:
    views = build_views(("val", "weak", "strong"), is_image=True, settings=settings)
    channels = len(settings.mean)
    pixels = random_pixels(5, channels, settings.image_size + 4)
    for view in views.values():
        out = view(pixels)
        assert out.dtype == torch.float32 and out.shape == (5, channels, settings.image_size, settings.image_size)


def test_val_view_normalises_per_channel() -> None:
    pixels = random_pixels(3, 3, 32, seed=1)
    out = build_views(("val",), True, RGB)["val"](pixels).numpy()
    expected = (pixels.numpy() / 255.0 - np.array(RGB.mean).reshape(1, 3, 1, 1)) / np.array(RGB.std).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_val_view_centre_crops_larger_images() -> None:
    pixels = torch.zeros(2, 3, 40, 40, dtype=torch.uint8)
    pixels[:, :, 4:36, 4:36] = 255
    out = build_views(("val",), True, RGB)["val"](pixels)
    expected = (1.0 - np.array(RGB.mean)) / np.array(RGB.std)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(expected.reshape(1, 3, 1, 1), (2, 3, 32, 32)), atol=1e-5)


def test_a_whole_image_crop_is_the_image_and_a_flip_its_mirror() -> None:
    pixels = random_pixels(200, 1, 8, seed=2)
    kept = CropAndFlip(8, scale=(1.0, 1.0), flip=False, ratio=(1.0, 1.0))(pixels)
    torch.testing.assert_close(kept, pixels.float(), rtol=0, atol=1e-4)
    flipped = CropAndFlip(8, scale=(1.0, 1.0), flip=True, ratio=(1.0, 1.0))(pixels, torch.Generator().manual_seed(0))
    mirrored = (flipped - pixels.flip(3).float()).abs().amax(dim=(1, 2, 3)) < 1e-4
    same = (flipped - pixels.float()).abs().amax(dim=(1, 2, 3)) < 1e-4
    assert bool((mirrored | same).all()) and 0.4 < mirrored.float().mean().item() < 0.6


def test_crop_boxes_lie_inside_and_follow_torchvisions_random_resized_crop() -> None:
    crop = CropAndFlip(32, scale=(0.2, 1.0), flip=False)
    top, left, box_h, box_w = crop.boxes(4000, 40, 30, torch.Generator().manual_seed(1))
    assert (top >= 0).all() and (left >= 0).all() and (top + box_h <= 40).all() and (left + box_w <= 30).all()
    torch.manual_seed(1)
    image = torch.zeros(1, 40, 30)
    reference = torch.tensor([RandomResizedCrop.get_params(image, [0.2, 1.0], [3 / 4, 4 / 3]) for _ in range(4000)])
    for ours, theirs in ((box_h * box_w / 1200, reference[:, 2] * reference[:, 3] / 1200),
                         (box_w / box_h, reference[:, 3] / reference[:, 2]), (top, reference[:, 0].double())):
        assert abs(ours.mean().item() - theirs.double().mean().item()) < 0.03 * theirs.double().mean().item() + 0.05


@pytest.mark.parametrize("is_image, settings", [(True, RGB), (True, GRAY), (False, ViewSettings(None))])
def test_views_are_bitwise_repeatable_per_seed(is_image: bool, settings: ViewSettings) -> None:
    views = build_views(("weak", "strong"), is_image, settings)
    samples = random_pixels(16, len(settings.mean), 36, seed=3) if is_image else torch.randn(16, 12)

    def draw(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [view(samples, generator) for view in views.values()]

    first, again, other = draw(0), draw(0), draw(1)
    for a, b, c in zip(first, again, other):
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(first[0], first[1])


def test_dataset_views_depend_only_on_seed_and_indices() -> None:
    dataset = build_dataset(DatasetConfig(name="digits"), views=("val", "weak", "strong"))
    indices = torch.tensor([5, 900, 17, 1500])
    first = dataset.view_batch(indices, torch.Generator().manual_seed(11))
    dataset.view_batch(torch.arange(64), torch.Generator().manual_seed(3))  # other draws in between change nothing
    again = dataset.view_batch(indices, torch.Generator().manual_seed(11))
    assert all(torch.equal(first[view], again[view]) for view in first)
    torch.manual_seed(11)  # the global RNG serves views made without a generator, e.g. a DataLoader's
    items = dataset.__getitems__(indices.tolist())
    torch.manual_seed(11)
    batch = dataset.view_batch(indices)
    for row, (views, index, label) in enumerate(items):
        assert index == int(indices[row]) and label == int(dataset.targets[index])
        assert all(torch.equal(views[view], batch[view][row]) for view in batch)


def _enhance(kind: type):
    def reference(image: Image.Image, level: float) -> Image.Image:
        return kind(image).enhance(1.0 + math.copysign(0.05 + 0.9 * abs(level), level))

    return reference


def _affine(coefficients):
    def reference(image: Image.Image, level: float) -> Image.Image:
        fill = 128 if image.mode == "L" else (128, 128, 128)
        return image.transform(image.size, Image.Transform.AFFINE, coefficients(level, image.size), fillcolor=fill)

    return reference


PIL_REFERENCE = {
    "identity": lambda image, level: image,
    "autocontrast": lambda image, level: ImageOps.autocontrast(image),
    "equalize": lambda image, level: ImageOps.equalize(image),
    "rotate": lambda image, level: image.rotate(30 * level, fillcolor=128 if image.mode == "L" else (128,) * 3),
    "solarize": lambda image, level: ImageOps.solarize(image, threshold=min(255, int(256 * (1 - abs(level))))),
    "color": _enhance(ImageEnhance.Color),
    "contrast": _enhance(ImageEnhance.Contrast),
    "brightness": _enhance(ImageEnhance.Brightness),
    "sharpness": _enhance(ImageEnhance.Sharpness),
    "shear_x": _affine(lambda level, size: (1, 0.1 * level, 0, 0, 1, 0)),
    "shear_y": _affine(lambda level, size: (1, 0, 0, 0.1 * level, 1, 0)),
    "translate_x": _affine(lambda level, size: (1, 0, 0.1 * level * size[0], 0, 1, 0)),
    "translate_y": _affine(lambda level, size: (1, 0, 0, 0, 1, 0.1 * level * size[1])),
    "posterize": lambda image, level: ImageOps.posterize(image, max(4, 8 - int(abs(level) * 5))),
}


@pytest.mark.parametrize("name", sorted(STRONG_OPS))
@pytest.mark.parametrize("channels", [1, 3])
def test_strong_operations_match_pil_per_image(name: str, channels: int) -> None:
    """Each batched operation, at one level per image, gives PIL's result on each image (to within rounding)."""
    assert set(STRONG_OPS) == set(PIL_REFERENCE) and len(STRONG_OPS) == 14
    pixels = random_pixels(5, channels, 20, seed=4)
    levels = torch.tensor([-1.0, -0.45, 0.0, 0.3, 1.0])
    out = STRONG_OPS[name](pixels.float(), levels).round().clamp(0, 255).numpy()
    for row, level in enumerate(levels.tolist()):
        expected = from_pil(PIL_REFERENCE[name](to_pil(pixels[row]), level))
        assert np.abs(out[row] - expected).max() <= 1, (name, level)


@pytest.mark.parametrize("level, factor", [(1.0, 1.95), (-1.0, 0.05), (0.5, 1.5), (-0.5, 0.5)])
def test_enhancement_factor_is_one_plus_signed_magnitude(level: float, factor: float) -> None:
    out = STRONG_OPS["brightness"](torch.full((1, 1, 4, 4), 100.0), torch.tensor([level]))
    assert abs(out[0, 0, 0, 0].item() - 100 * factor) <= 1


def test_translation_moves_by_a_tenth_of_the_side_with_gray_fill() -> None:
    pixels = random_pixels(1, 1, 20, seed=5).float()
    shifted = STRONG_OPS["translate_x"](pixels, torch.tensor([1.0]))  # 0.1 * 20 = 2 px
    torch.testing.assert_close(shifted[..., :-2], pixels[..., 2:], rtol=0, atol=0)
    assert (shifted[..., -2:] == 128).all()


@pytest.mark.parametrize("level, bits", [(0.0, 8), (0.19, 8), (0.21, 7), (-0.99, 4), (1.0, 4)])
def test_posterize_keeps_8_down_to_4_bits(level: float, bits: int) -> None:
    values = torch.arange(256, dtype=torch.float32).view(1, 1, 16, 16)
    out = STRONG_OPS["posterize"](values, torch.tensor([level])).numpy().astype(np.uint8)
    np.testing.assert_array_equal(out, values.numpy().astype(np.uint8) & np.uint8((0xFF << (8 - bits)) & 0xFF))


def test_random_ops_draw_per_image_with_replacement_at_levels_in_range() -> None:
    drawn: list[tuple[int, int]] = []  # (operation, images it was applied to)
    levels: list[float] = []

    def recorder(number: int):
        def op(images: torch.Tensor, op_levels: torch.Tensor) -> torch.Tensor:
            drawn.append((number, len(images)))
            levels.extend(op_levels.tolist())
            return images

        return op

    random_ops = RandomOps(num_ops=4)
    random_ops.ops = [recorder(i) for i in range(14)]
    random_ops(torch.zeros(100, 1, 4, 4), torch.Generator().manual_seed(3))
    assert sum(count for _, count in drawn) == 400 and {number for number, _ in drawn} == set(range(14))
    assert len(drawn) <= 4 * 14  # one call per operation and slot, on all images that drew it
    assert -1 <= min(levels) < -0.9 and 0.9 < max(levels) <= 1


def test_excluded_operations_are_never_drawn() -> None:
    random_ops = RandomOps(num_ops=2, excluded=("solarize",))
    assert STRONG_OPS["solarize"] not in random_ops.ops and len(random_ops.ops) == 13


@pytest.mark.parametrize("size, side", [(32, 16), (96, 32), (224, 75), (8, 4), (64, 32)])
def test_cutout_side_follows_the_table(size: int, side: int) -> None:
    assert cutout_side(size) == side


def test_cutout_zeros_one_square_of_side_at_most_l_per_image() -> None:
    out = Cutout(max_side=6)(torch.ones(2000, 3, 20, 20), torch.Generator().manual_seed(4))
    zeros = (out == 0).numpy()
    assert (zeros == zeros[:, :1]).all()  # the same hole in every channel
    sides = []
    for hole in zeros[:, 0]:
        rows, cols = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        assert hole.sum() == len(rows) * len(cols) and 1 <= len(rows) <= 6 and 1 <= len(cols) <= 6
        if 0 < rows[0] and rows[-1] < 19 and 0 < cols[0] and cols[-1] < 19:
            assert len(rows) == len(cols)
            sides.append(len(rows))
    assert set(sides) == set(range(1, 7))


@pytest.mark.parametrize("view, noise, drop", [("weak", 0.1, 0.1), ("strong", 0.2, 0.3)])
def test_vector_views_add_noise_and_drop_features(view: str, noise: float, drop: float) -> None:
    transform = build_views((view,), is_image=False, settings=ViewSettings(image_size=None))[view]
    out = transform(torch.full((200, 200), 1.0), torch.Generator().manual_seed(5))
    dropped = out == 0
    assert abs(dropped.float().mean().item() - drop) < 0.01
    kept = out[~dropped]
    assert abs(kept.mean().item() - 1.0) < 0.01 and abs(kept.std().item() - noise) < 0.01


def test_vector_val_view_is_identity() -> None:
    vectors = torch.randn(4, 7)
    assert torch.equal(build_views(("val",), False, ViewSettings(None))["val"](vectors), vectors)


def test_vector_noise_is_relative_to_each_feature_std() -> None:
    feature_std = torch.tensor([0.0, 1.0, 10.0])
    settings = ViewSettings(None, policy=ViewPolicy(), feature_std=feature_std)
    transform = build_views(("weak",), is_image=False, settings=settings)["weak"]
    out = transform(torch.ones(20000, 3), torch.Generator().manual_seed(6))
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
    pixels = torch.zeros(400, 1, 8, 8, dtype=torch.uint8)
    pixels[..., :4] = 255  # a bright left half: a mirror would move it right
    for mirror, mirrored_share in ((False, 0.0), (True, 0.5)):
        settings = ViewSettings(8, mean=(0.5,), std=(0.5,), policy=ViewPolicy(mirror=mirror))
        weak = build_views(("weak",), True, settings)["weak"]  # the strong view starts with the same crop and flip
        columns = weak(pixels, torch.Generator().manual_seed(7))[:, 0].mean(dim=1)  # [n, W]
        mirrored = (columns[:, :4].mean(dim=1) < columns[:, 4:].mean(dim=1)).float().mean().item()
        assert abs(mirrored - mirrored_share) < 0.07
