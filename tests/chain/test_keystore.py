"""Encrypted key files: round trip, refusal of wrong passwords, tampering, loose permissions."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from chain.keystore import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    KeyFileError,
    PasswordError,
    password_from_env,
    prompt_password,
    read_key_file,
    write_key_file,
)
from runtime.primitives.address import encode_address
from runtime.primitives.keys import Keypair, dev_keypair

PASSWORD = b"correct horse battery staple"
TAMPERABLE = ("salt", "nonce", "ciphertext")


def write_fast(
    path: Path, keypair: Keypair, password: bytes = PASSWORD, *, overwrite: bool = False
) -> None:
    """Write with Argon2id's minimum cost, so that the tests stay fast."""
    write_key_file(
        path,
        keypair,
        password,
        opslimit=argon2id.OPSLIMIT_MIN,
        memlimit=argon2id.MEMLIMIT_MIN,
        overwrite=overwrite,
    )


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "alice.json"
    write_fast(path, dev_keypair("Alice"))
    return path


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def save(path: Path, document: object) -> None:
    path.write_text(json.dumps(document))
    path.chmod(0o600)


def refused(path: Path, fragment: str, password: bytes = PASSWORD) -> None:
    with pytest.raises(KeyFileError) as info:
        read_key_file(path, password)
    assert fragment in str(info.value)


def test_round_trip(tmp_path: Path) -> None:
    keypair = Keypair.generate()
    path = tmp_path / "k.json"
    write_fast(path, keypair)
    assert read_key_file(path, PASSWORD) == keypair


def test_file_layout(key_file: Path) -> None:
    alice = dev_keypair("Alice")
    document = load(key_file)
    assert document["version"] == 1
    assert document["address"] == encode_address(alice.public)
    assert document["publicKey"] == "0x" + alice.public.hex()
    crypto = document["crypto"]
    assert crypto["kdf"] == "argon2id"
    assert (crypto["opslimit"], crypto["memlimit"]) == (
        argon2id.OPSLIMIT_MIN,
        argon2id.MEMLIMIT_MIN,
    )
    assert len(bytes.fromhex(crypto["salt"][2:])) == 16
    assert len(bytes.fromhex(crypto["nonce"][2:])) == 24
    assert len(bytes.fromhex(crypto["ciphertext"][2:])) == 48
    assert alice.seed.hex() not in key_file.read_text()


def test_defaults_are_libsodium_moderate() -> None:
    assert DEFAULT_OPSLIMIT == argon2id.OPSLIMIT_MODERATE
    assert DEFAULT_MEMLIMIT == argon2id.MEMLIMIT_MODERATE


def test_each_file_has_fresh_salt_and_nonce(tmp_path: Path) -> None:
    write_fast(tmp_path / "a.json", dev_keypair("Alice"))
    write_fast(tmp_path / "b.json", dev_keypair("Alice"))
    a, b = load(tmp_path / "a.json")["crypto"], load(tmp_path / "b.json")["crypto"]
    assert a["salt"] != b["salt"]
    assert a["nonce"] != b["nonce"]


def test_mode_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_fast(tmp_path / "k.json", dev_keypair("Alice"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600


def test_wrong_password_is_refused(key_file: Path) -> None:
    refused(key_file, "cannot decrypt: wrong password or corrupted file", b"wrong")
    refused(key_file, "cannot decrypt", b"")


@pytest.mark.parametrize("field", TAMPERABLE)
def test_every_flipped_byte_is_refused(key_file: Path, field: str) -> None:
    original = load(key_file)
    data = bytes.fromhex(original["crypto"][field][2:])
    for index in range(len(data)):
        flipped = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
        document = json.loads(json.dumps(original))
        document["crypto"][field] = "0x" + flipped.hex()
        save(key_file, document)
        refused(key_file, "cannot decrypt: wrong password or corrupted file")


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(TAMPERABLE), st.integers(0, 47), st.integers(1, 255))
def test_any_changed_byte_is_refused(tmp_path: Path, field: str, index: int, mask: int) -> None:
    path = tmp_path / "k.json"
    if not path.exists():
        write_fast(path, dev_keypair("Bob"))
    document = load(path)
    data = bytearray(bytes.fromhex(document["crypto"][field][2:]))
    data[index % len(data)] ^= mask
    document["crypto"][field] = "0x" + data.hex()
    tampered = tmp_path / "tampered.json"
    save(tampered, document)
    refused(tampered, "cannot decrypt")


def test_swapped_public_key_is_refused(key_file: Path) -> None:
    bob = dev_keypair("Bob")
    document = load(key_file)
    document["publicKey"] = "0x" + bob.public.hex()
    document["address"] = encode_address(bob.public)
    save(key_file, document)
    refused(key_file, "it was edited")


def test_address_not_matching_public_key_is_refused(key_file: Path) -> None:
    document = load(key_file)
    document["address"] = encode_address(dev_keypair("Bob").public)
    save(key_file, document)
    refused(key_file, "address and publicKey name different accounts")


def test_address_of_another_network_is_refused(key_file: Path) -> None:
    document = load(key_file)
    document["address"] = encode_address(dev_keypair("Alice").public, 42)
    save(key_file, document)
    refused(key_file, "network prefix 42")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610, 0o601])
def test_files_others_can_access_are_refused(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        read_key_file(key_file, PASSWORD)
    assert f"chmod 600 {key_file}" in str(info.value)
    assert f"{mode:04o}" in str(info.value)


def test_owner_only_modes_are_accepted(key_file: Path) -> None:
    key_file.chmod(0o400)
    assert read_key_file(key_file, PASSWORD) == dev_keypair("Alice")


def test_existing_file_is_not_overwritten(key_file: Path) -> None:
    before = key_file.read_bytes()
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        write_fast(key_file, dev_keypair("Bob"))
    assert key_file.read_bytes() == before


def test_overwrite_replaces_atomically(key_file: Path) -> None:
    key_file.chmod(0o644)  # the replacement is a new file: private whatever the old one was
    write_fast(key_file, dev_keypair("Bob"), overwrite=True)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_key_file(key_file, PASSWORD) == dev_keypair("Bob")
    assert sorted(p.name for p in key_file.parent.iterdir()) == [key_file.name]


def test_overwrite_creates_a_missing_file(tmp_path: Path) -> None:
    write_fast(tmp_path / "new.json", dev_keypair("Eve"), overwrite=True)
    assert read_key_file(tmp_path / "new.json", PASSWORD) == dev_keypair("Eve")


def test_write_refuses_empty_password_and_absurd_limits(tmp_path: Path) -> None:
    with pytest.raises(PasswordError, match="empty"):
        write_fast(tmp_path / "k.json", dev_keypair("Alice"), b"")
    with pytest.raises(KeyFileError, match="memlimit"):
        write_key_file(tmp_path / "k.json", dev_keypair("Alice"), PASSWORD, memlimit=2**40)
    assert not (tmp_path / "k.json").exists()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    refused(tmp_path / "absent.json", "does not exist")
    refused(tmp_path, "not a regular file")
    os.mkfifo(tmp_path / "pipe", 0o600)
    refused(tmp_path / "pipe", "not a regular file")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"version": 1, "version": 1}', "appears twice"),
        (b"[1, 2]", "must be a JSON object"),
        (b"x" * (64 * 1024 + 1), "larger than"),
    ],
)
def test_unreadable_content_is_refused(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(content)
    path.chmod(0o600)
    refused(path, fragment)


EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("version 2", lambda d: d.update(version=2), "version 2 is not supported"),
    ("version text", lambda d: d.update(version="1"), "is not supported"),
    ("version bool", lambda d: d.update(version=True), "is not supported"),
    ("no crypto", lambda d: d.pop("crypto"), "missing field crypto"),
    ("no address", lambda d: d.pop("address"), "missing field address"),
    ("extra field", lambda d: d.update(comment="hi"), "unknown field comment"),
    ("crypto list", lambda d: d.update(crypto=[]), "crypto must be a JSON object"),
    ("no salt", lambda d: d["crypto"].pop("salt"), "missing field crypto.salt"),
    ("kdf", lambda d: d["crypto"].update(kdf="scrypt"), "crypto.kdf must be 'argon2id'"),
    ("ops text", lambda d: d["crypto"].update(opslimit="1"), "opslimit must be an integer"),
    ("ops float", lambda d: d["crypto"].update(opslimit=1.0), "opslimit must be an integer"),
    ("ops huge", lambda d: d["crypto"].update(opslimit=10**6), "opslimit 1000000 is outside"),
    ("mem huge", lambda d: d["crypto"].update(memlimit=2**40), "is outside"),
    ("mem zero", lambda d: d["crypto"].update(memlimit=0), "memlimit 0 is outside"),
    ("salt no 0x", lambda d: d["crypto"].update(salt="00" * 16), "crypto.salt must be a 0x"),
    ("salt short", lambda d: d["crypto"].update(salt="0x00"), "crypto.salt must be 16 bytes"),
    ("nonce int", lambda d: d["crypto"].update(nonce=5), "crypto.nonce must be a 0x"),
    ("ct odd", lambda d: d["crypto"].update(ciphertext="0x123"), "crypto.ciphertext must be"),
    ("ct spaces", lambda d: d["crypto"].update(ciphertext="0x12 34"), "crypto.ciphertext must"),
    ("public short", lambda d: d.update(publicKey="0x1234"), "publicKey must be 32 bytes"),
    ("address int", lambda d: d.update(address=7), "address must be a string"),
    ("address typo", lambda d: d.update(address=d["address"][:-1] + "x"), "checksum mismatch"),
]


@pytest.mark.parametrize(
    ("change", "fragment"), [(c, f) for _, c, f in EDITS], ids=[n for n, _, _ in EDITS]
)
def test_ill_formed_fields_are_refused(
    key_file: Path, change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    document = load(key_file)
    change(document)
    save(key_file, document)
    refused(key_file, fragment)


def test_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPL_TEST_PASSWORD", "s3cret ü")
    assert password_from_env("XPL_TEST_PASSWORD") == "s3cret ü".encode()
    monkeypatch.setenv("XPL_TEST_PASSWORD", "")
    with pytest.raises(PasswordError, match=r"XPL_TEST_PASSWORD .* is empty"):
        password_from_env("XPL_TEST_PASSWORD")
    monkeypatch.delenv("XPL_TEST_PASSWORD")
    with pytest.raises(PasswordError, match=r"XPL_TEST_PASSWORD .* is not set"):
        password_from_env("XPL_TEST_PASSWORD")


def answers(*replies: str) -> Callable[[str], str]:
    queue: Iterator[str] = iter(replies)

    def getpass(prompt: str = "") -> str:
        try:
            return next(queue)
        except StopIteration:
            raise EOFError from None

    return getpass


def test_prompt_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", answers("pw"))
    assert prompt_password(confirm=False) == b"pw"
    monkeypatch.setattr("getpass.getpass", answers("pw", "pw"))
    assert prompt_password(confirm=True) == b"pw"


@pytest.mark.parametrize(
    ("replies", "fragment"),
    [(("pw", "pX"), "do not match"), (("",), "empty"), ((), "no password was typed")],
)
def test_prompt_password_refusals(
    monkeypatch: pytest.MonkeyPatch, replies: tuple[str, ...], fragment: str
) -> None:
    monkeypatch.setattr("getpass.getpass", answers(*replies))
    with pytest.raises(PasswordError, match=fragment):
        prompt_password(confirm=True)
