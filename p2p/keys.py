"""The node key: the Ed25519 seed behind a node's libp2p identity (its PeerId).

A node key file holds the 32-byte seed as 64 hex characters (an optional `0x` and a trailing
newline are accepted), like Substrate's `--node-key-file`. A missing file is created with a fresh
random seed and mode 0600; like ssh, and like the account key files of `chain.keystore`, a file
that others may read or write is refused. The seed only identifies and authenticates the node on
the network (Noise signs with it); it holds no funds.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Final

from libp2p.crypto.keys import KeyPair
from libp2p.identity_utils import create_identity_from_seed
from libp2p.peer.id import ID

NODE_KEY_LEN: Final = 32
_MAX_FILE_BYTES: Final = 256


class NodeKeyError(ValueError):
    """A node key file that cannot be read, parsed or created; the message says which and why."""


def load_or_create_node_key(path: Path) -> bytes:
    """The 32-byte seed in the node key file at `path`, created (mode 0600) if it is missing."""
    try:
        return _read_node_key(path)
    except FileNotFoundError:
        pass
    seed = secrets.token_bytes(NODE_KEY_LEN)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_node_key(path)  # another process created it first
    except OSError as exc:
        raise NodeKeyError(f"node key file {path}: cannot create it: {exc.strerror}") from exc
    with os.fdopen(fd, "w") as file:
        file.write(seed.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    return seed


def _read_node_key(path: Path) -> bytes:
    """Parse an existing node key file; FileNotFoundError if there is none."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise NodeKeyError(f"node key file {path}: cannot read it: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise NodeKeyError(f"node key file {path}: not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NodeKeyError(
            f"node key file {path}: others may access it (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run chmod 600 {path}"
        )
    if info.st_size > _MAX_FILE_BYTES:
        raise NodeKeyError(
            f"node key file {path}: {info.st_size} bytes, expected 64 hex characters "
            "(a 32-byte Ed25519 seed)"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NodeKeyError(f"node key file {path}: cannot read it: {exc.strerror}") from exc
    return parse_node_key(raw, source=f"node key file {path}")


def parse_node_key(raw: bytes, *, source: str = "node key") -> bytes:
    """The seed written as hex in `raw`; NodeKeyError naming `source` if it is not one."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise NodeKeyError(f"{source}: not text; expected 64 hex characters") from exc
    if text.startswith(("0x", "0X")):
        text = text[2:]
    if len(text) != 2 * NODE_KEY_LEN:
        raise NodeKeyError(
            f"{source}: expected 64 hex characters (a 32-byte Ed25519 seed), found {len(text)}"
        )
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise NodeKeyError(f"{source}: not valid hex") from exc


def key_pair_of(seed: bytes) -> KeyPair:
    """The libp2p Ed25519 key pair derived from a 32-byte seed."""
    if len(seed) != NODE_KEY_LEN:
        raise NodeKeyError(f"node key: expected {NODE_KEY_LEN} bytes, got {len(seed)}")
    return create_identity_from_seed(seed)


def peer_id_of(seed: bytes) -> str:
    """The base58 PeerId (`12D3KooW…`) of the node whose key is `seed`."""
    return str(ID.from_pubkey(key_pair_of(seed).public_key))
