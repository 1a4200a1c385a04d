"""scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes): the default, needs no files."""

from __future__ import annotations

import numpy as np

from trainables.data.sources import ImageArraySource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest, register_dataset
from trainables.data.views import ViewPolicy

DIGITS_MAX_VALUE = 16


def load_sklearn_digits(request: LoadRequest) -> LoadedData:
    """Pixels 0..16 scaled to 0..255 uint8, as 1-channel 8x8 images."""
    from sklearn.datasets import load_digits  # 1.4 s to import; only a trial on digits needs it

    digits = load_digits()
    images = np.rint(digits.images * (255 / DIGITS_MAX_VALUE)).astype(np.uint8)[..., None]
    return LoadedData(ImageArraySource(images), digits.target.astype(np.int64), num_classes=10)


register_dataset(
    DatasetSpec(
        name="digits",
        load=load_sklearn_digits,
        layout="nothing (it ships with scikit-learn)",
        needs_root=False,
        views=ViewPolicy(mirror=False),
    )
)
