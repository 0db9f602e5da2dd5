"""Node key files: created once with mode 0600, read back the same, and bad files refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from p2p.keys import NodeKeyError, load_or_create_node_key, parse_node_key, peer_id_of

pytestmark = pytest.mark.timeout(10)


def test_a_missing_key_file_is_created_with_mode_0600_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "node_key"
    seed = load_or_create_node_key(path)
    assert len(seed) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == seed.hex() + "\n"
    assert load_or_create_node_key(path) == seed


def test_two_new_keys_differ(tmp_path: Path) -> None:
    assert load_or_create_node_key(tmp_path / "a") != load_or_create_node_key(tmp_path / "b")


def test_hex_with_0x_and_whitespace_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("0x" + "ab" * 32 + "\n\n")
    path.chmod(0o600)
    assert load_or_create_node_key(path) == bytes([0xAB]) * 32


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ab" * 31, "found 62"),
        (b"ab" * 33, "found 66"),
        (b"zz" * 32, "not valid hex"),
        (b"\xff\xfe" * 32, "not text"),
        (b"", "found 0"),
        (b"a" * 1000, "1000 bytes"),
    ],
)
def test_bad_key_files_are_refused_with_the_reason(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(NodeKeyError, match=message) as error:
        load_or_create_node_key(path)
    assert str(path) in str(error.value)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("ab" * 32)
    path.chmod(0o644)
    with pytest.raises(NodeKeyError, match="chmod 600"):
        load_or_create_node_key(path)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(NodeKeyError, match="not a regular file"):
        load_or_create_node_key(tmp_path)


def test_an_unwritable_place_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NodeKeyError, match=r"cannot (create|read) it"):
        load_or_create_node_key(blocker / "key")


def test_peer_ids_are_base58_ed25519_ids_fixed_by_the_seed() -> None:
    peer = peer_id_of(bytes(32))
    assert peer == peer_id_of(bytes(32))
    assert peer.startswith("12D3KooW")
    assert peer != peer_id_of(bytes([1]) * 32)
    with pytest.raises(NodeKeyError):
        peer_id_of(bytes(31))


def test_parse_names_the_source() -> None:
    with pytest.raises(NodeKeyError, match="--node-key"):
        parse_node_key(b"12", source="--node-key")
    assert parse_node_key(os.urandom(32).hex().encode()) is not None
