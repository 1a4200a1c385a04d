"""Checkpoint formats, strict key checks and file hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from trainables.config import EncoderConfig
from trainables.errors import CheckpointError
from trainables.models.encoder_checkpoints import file_hash, load_encoder_checkpoint
from trainables.models.encoders import InputShape, build_encoder

SHAPE = InputShape(is_image=True, channels=1, image_size=8, input_dim=64)


def fresh(arch: str = "small_cnn", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_encoder(EncoderConfig(arch=arch), SHAPE)


def wrap_solo_learn(state: dict) -> dict:
    tensors = {f"backbone.{k}": v for k, v in state.items()}
    tensors.update({f"momentum_backbone.{k}": v + 1 for k, v in state.items()})
    tensors["projector.0.weight"] = torch.randn(4, 4)
    return {"state_dict": tensors, "epoch": 3}


def wrap_moco(state: dict) -> dict:
    tensors = {f"module.encoder_q.{k}": v for k, v in state.items()}
    tensors.update({"module.encoder_q.fc.0.weight": torch.randn(4, 4), "module.encoder_q.fc.2.bias": torch.zeros(4)})
    tensors.update({f"module.encoder_k.{k}": v + 1 for k, v in state.items()})
    tensors["module.queue"] = torch.randn(8, 4)
    return {"state_dict": tensors, "arch": "small_cnn"}


def wrap_scan(state: dict) -> dict:
    tensors = {f"backbone.{k}": v for k, v in state.items()}
    tensors["contrastive_head.0.weight"] = torch.randn(4, 4)
    return tensors


@pytest.mark.parametrize("wrap", [wrap_solo_learn, wrap_moco, wrap_scan, dict], ids=["solo", "moco", "scan", "plain"])
def test_every_format_loads_the_backbone_exactly(tmp_path: Path, wrap) -> None:
    source = fresh(seed=1)
    path = tmp_path / "weights.ckpt"
    torch.save(wrap(source.state_dict()), path)
    target = fresh(seed=2)
    load_encoder_checkpoint(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(source.eval()(x), target.eval()(x))


def test_missing_and_unexpected_keys_are_named_with_counts(tmp_path: Path) -> None:
    state = fresh().state_dict()
    state.pop("block3.0.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_encoder_checkpoint(fresh(), path)
    message = str(error.value)
    assert "missing keys 1 (block3.0.weight)" in message and "unexpected keys 1 (extra.weight)" in message
    assert "\n" not in message


def test_another_architecture_raises_one_line(tmp_path: Path) -> None:
    path = tmp_path / "three_channel.pt"
    torch.save(build_encoder(EncoderConfig(arch="small_cnn"), InputShape(True, 3, 8, 192)).state_dict(), path)
    with pytest.raises(CheckpointError, match="another architecture: 1 tensors differ in shape"):
        load_encoder_checkpoint(fresh(), path)
    torch.save(fresh("mlp").state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit the encoder"):
        load_encoder_checkpoint(fresh(), path)


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04corrupt zip"], ids=["text", "zip"])
def test_corrupt_file_raises_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="cannot be read") as error:
        load_encoder_checkpoint(fresh(), path)
    assert "\n" not in str(error.value)


def test_truncated_checkpoint_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    torch.save(fresh().state_dict(), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_encoder_checkpoint(fresh(), path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoder_checkpoint(fresh(), tmp_path / "nowhere.pt")


def test_build_encoder_loads_config_checkpoint(tmp_path: Path) -> None:
    source = fresh(seed=5)
    path = tmp_path / "w.pt"
    torch.save(wrap_solo_learn(source.state_dict()), path)
    loaded = build_encoder(EncoderConfig(arch="small_cnn", checkpoint=path), SHAPE)
    assert torch.equal(loaded.block1[0].weight, source.block1[0].weight)


def test_file_hash_is_sha256_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 1000
    path.write_bytes(data)
    assert file_hash(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()
    with pytest.raises(CheckpointError):
        file_hash(tmp_path / "absent")
