"""CIFAR batches are unpickled without running code: a crafted batch is refused and its payload never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from trainables.data.cifar import CIFAR_PIXELS, read_pickle_batch
from trainables.errors import DataError


class _Payload:
    """Unpickling this calls ``os.system`` (what a malicious ``__reduce__`` does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _batch(data: np.ndarray, labels: list[int], **extra) -> dict:
    return {"batch_label": "training batch 1 of 5", "data": data, "labels": labels,
            "filenames": [f"img{i}.png" for i in range(len(labels))], **extra}


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_genuine_batch_is_read(tmp_path: Path, protocol: int) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(4, CIFAR_PIXELS), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_batch(data, [3, 1, 4, 1]), protocol=protocol))
    images, labels = read_pickle_batch(path, "labels")
    expected = np.stack([row.reshape(3, 32, 32).transpose(1, 2, 0) for row in data])  # CHW rows -> HWC images
    assert np.array_equal(images, expected) and labels.tolist() == [3, 1, 4, 1]


def test_a_malicious_reduce_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = np.zeros((1, CIFAR_PIXELS), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_batch(data, [0], extra=_Payload(marker)), protocol=2))
    assert not marker.exists()
    with pytest.raises(DataError, match="is not a CIFAR batch") as refused:
        read_pickle_batch(path, "labels")
    assert "system" in str(refused.value) and len(str(refused.value).splitlines()) == 1
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the same file under plain pickle does run the payload: the test is real
    assert marker.exists()


def test_other_python_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((1, CIFAR_PIXELS), np.uint8), "labels": [0], "when": {1, 2}.__class__}))
    with pytest.raises(DataError, match="builtins.set"):
        read_pickle_batch(path, "labels")
