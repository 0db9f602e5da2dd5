"""Encrypted key files: an Ed25519 seed sealed under a password (DESIGN 3).

A key file is JSON:

    {"version": 1, "address": "5…", "publicKey": "0x…",
     "crypto": {"kdf": "argon2id", "opslimit": 3, "memlimit": 268435456,
                "salt": "0x…", "nonce": "0x…", "ciphertext": "0x…"}}

The 32-byte seed is encrypted with a NaCl SecretBox (XSalsa20-Poly1305) whose key is
Argon2id(password, salt, opslimit, memlimit). The box's tag catches a wrong password and any change
to salt, nonce or ciphertext; the address and public key, which are stored in the clear so a file
can be identified without its password, are checked against the decrypted seed. Files are created
with mode 0600, and like ssh we refuse to use one that others can read.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Final

import nacl.exceptions
import nacl.utils
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

from runtime.primitives.address import InvalidAddress, decode_address, encode_address
from runtime.primitives.hashing import to_hex
from runtime.primitives.keys import PUBLIC_KEY_LEN, SEED_LEN, Keypair

KEY_FILE_VERSION: Final = 1
KDF_NAME: Final = "argon2id"
DEFAULT_OPSLIMIT: Final[int] = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT: Final[int] = argon2id.MEMLIMIT_MODERATE  # 256 MiB, about a second
# A key file chooses how much work reading it costs, so a hostile file could ask for many GiB of
# memory or hours of hashing; reading refuses parameters beyond libsodium's SENSITIVE level.
MIN_OPSLIMIT: Final[int] = argon2id.OPSLIMIT_MIN
MAX_OPSLIMIT: Final[int] = argon2id.OPSLIMIT_SENSITIVE
MIN_MEMLIMIT: Final[int] = argon2id.MEMLIMIT_MIN
MAX_MEMLIMIT: Final[int] = argon2id.MEMLIMIT_SENSITIVE  # 1 GiB
MAX_KEY_FILE_SIZE: Final = 64 * 1024

_SALT_LEN: Final[int] = argon2id.SALTBYTES
_NONCE_LEN: Final[int] = SecretBox.NONCE_SIZE
_CIPHERTEXT_LEN: Final[int] = SEED_LEN + SecretBox.MACBYTES
_TOP_FIELDS: Final = ("version", "address", "publicKey", "crypto")
_CRYPTO_FIELDS: Final = ("kdf", "opslimit", "memlimit", "salt", "nonce", "ciphertext")
_HEX: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*", re.ASCII)


class KeyFileError(ValueError):
    """A key file that cannot be written, read or decrypted; the message says why."""


class PasswordError(ValueError):
    """No usable password: an unset variable, an empty password or two that differ."""


def write_key_file(
    path: str | os.PathLike[str],
    keypair: Keypair,
    password: bytes,
    *,
    opslimit: int = DEFAULT_OPSLIMIT,
    memlimit: int = DEFAULT_MEMLIMIT,
    overwrite: bool = False,
) -> None:
    """Encrypt `keypair` under `password` into a new key file with mode 0600."""
    path = Path(path)
    if not password:
        raise PasswordError("the password is empty: an empty password protects nothing")
    _check_kdf_limits(str(path), opslimit, memlimit)
    salt = nacl.utils.random(_SALT_LEN)
    nonce = nacl.utils.random(_NONCE_LEN)
    key = argon2id.kdf(SecretBox.KEY_SIZE, password, salt, opslimit=opslimit, memlimit=memlimit)
    ciphertext = SecretBox(key).encrypt(keypair.seed, nonce).ciphertext
    document = {
        "version": KEY_FILE_VERSION,
        "address": encode_address(keypair.public),
        "publicKey": to_hex(keypair.public),
        "crypto": {
            "kdf": KDF_NAME,
            "opslimit": opslimit,
            "memlimit": memlimit,
            "salt": to_hex(salt),
            "nonce": to_hex(nonce),
            "ciphertext": to_hex(ciphertext),
        },
    }
    content = (json.dumps(document, indent=2) + "\n").encode()
    if overwrite:
        _replace_file(path, content)
    else:
        _create_file(path, content)


def read_key_file(path: str | os.PathLike[str], password: bytes) -> Keypair:
    """Decrypt a key file, checking its permissions, every field and the stored public key."""
    path = Path(path)
    document = _parse_document(path, _read_private_file(path))
    crypto = document["crypto"]
    try:
        key = argon2id.kdf(
            SecretBox.KEY_SIZE,
            password,
            crypto["salt"],
            opslimit=crypto["opslimit"],
            memlimit=crypto["memlimit"],
        )
        seed = SecretBox(key).decrypt(crypto["ciphertext"], crypto["nonce"])
    except nacl.exceptions.CryptoError as exc:
        raise KeyFileError(
            f"key file {path}: cannot decrypt: wrong password or corrupted file"
        ) from exc
    keypair = Keypair.from_seed(seed)
    if keypair.public != document["publicKey"]:
        raise KeyFileError(
            f"key file {path}: the decrypted key's public key {to_hex(keypair.public)} is not "
            f"the publicKey {to_hex(document['publicKey'])} the file claims; it was edited"
        )
    return keypair


def password_from_env(var: str) -> bytes:
    """The password held in the environment variable `var`."""
    value = os.environ.get(var)
    if value is None:
        raise PasswordError(f"the environment variable {var} holding the password is not set")
    if not value:
        raise PasswordError(f"the environment variable {var} holding the password is empty")
    return os.fsencode(value)


def prompt_password(confirm: bool) -> bytes:
    """Ask for a password on the terminal; with `confirm`, ask twice and compare."""
    try:
        password = getpass.getpass("Password: ")
        if not password:
            raise PasswordError("the password is empty")
        if confirm and getpass.getpass("Repeat password: ") != password:
            raise PasswordError("the two passwords do not match")
    except EOFError as exc:
        raise PasswordError(
            "no password was typed (no terminal?); name an environment variable that holds it"
        ) from exc
    return password.encode()


def _check_kdf_limits(where: str, opslimit: object, memlimit: object) -> None:
    for name, value, low, high in (
        ("opslimit", opslimit, MIN_OPSLIMIT, MAX_OPSLIMIT),
        ("memlimit", memlimit, MIN_MEMLIMIT, MAX_MEMLIMIT),
    ):
        if type(value) is not int:
            raise KeyFileError(f"key file {where}: {name} must be an integer")
        if not low <= value <= high:
            raise KeyFileError(f"key file {where}: {name} {value} is outside {low} to {high}")


def _create_file(path: Path, content: bytes) -> None:
    """Write a new file that is private from the moment it exists; never replace one."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _replace_file(path: Path, content: bytes) -> None:
    """Write a private temporary file beside `path`, then rename it over `path` at once."""
    if path.is_dir():
        raise KeyFileError(f"cannot write key file {path}: it is a directory")
    temporary = path.with_name(f".{path.name}.{nacl.utils.random(6).hex()}.tmp")
    _create_file(temporary, content)
    try:
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc
    if os.name == "posix":  # make the rename itself survive a crash
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _read_private_file(path: Path) -> bytes:
    """The bytes of a key file, refusing one that is missing, huge or readable by others."""
    try:
        # O_NONBLOCK: opening a named pipe must fail the regular-file check, not hang.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot open key file {path}: {exc.strerror}") from exc
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(status.st_mode)
        if os.name == "posix" and mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible by other users (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        content = b""
        while len(content) <= MAX_KEY_FILE_SIZE:  # os.read may return less than asked
            chunk = os.read(fd, MAX_KEY_FILE_SIZE + 1 - len(content))
            if not chunk:
                break
            content += chunk
    finally:
        os.close(fd)
    if len(content) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"key file {path} is larger than {MAX_KEY_FILE_SIZE} bytes")
    return content


def _parse_document(path: Path, content: bytes) -> dict[str, Any]:
    """Check the structure of a key file and return it with hex fields decoded to bytes."""
    try:
        document = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError, _DuplicateKey) as exc:
        raise KeyFileError(f"key file {path} is not valid JSON: {exc}") from exc
    where = str(path)
    _expect_fields(where, "", document, _TOP_FIELDS)
    version = document["version"]
    if type(version) is not int or version != KEY_FILE_VERSION:
        raise KeyFileError(
            f"key file {path}: version {version!r} is not supported (expected {KEY_FILE_VERSION})"
        )
    crypto = document["crypto"]
    _expect_fields(where, "crypto.", crypto, _CRYPTO_FIELDS)
    if crypto["kdf"] != KDF_NAME:
        raise KeyFileError(f"key file {path}: crypto.kdf must be {KDF_NAME!r}")
    _check_kdf_limits(where, crypto["opslimit"], crypto["memlimit"])
    public = _hex_field(where, "publicKey", document["publicKey"], PUBLIC_KEY_LEN)
    address = document["address"]
    if not isinstance(address, str):
        raise KeyFileError(f"key file {path}: address must be a string")
    try:
        address_public = decode_address(address)
    except InvalidAddress as exc:
        raise KeyFileError(f"key file {path}: {exc}") from exc
    if address_public != public:
        raise KeyFileError(f"key file {path}: address and publicKey name different accounts")
    return {
        "publicKey": public,
        "crypto": {
            "opslimit": crypto["opslimit"],
            "memlimit": crypto["memlimit"],
            "salt": _hex_field(where, "crypto.salt", crypto["salt"], _SALT_LEN),
            "nonce": _hex_field(where, "crypto.nonce", crypto["nonce"], _NONCE_LEN),
            "ciphertext": _hex_field(
                where, "crypto.ciphertext", crypto["ciphertext"], _CIPHERTEXT_LEN
            ),
        },
    }


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"field {key!r} appears twice")
        result[key] = value
    return result


def _expect_fields(where: str, prefix: str, value: object, fields: tuple[str, ...]) -> None:
    if not isinstance(value, dict):
        what = f"{prefix.rstrip('.')} " if prefix else ""
        raise KeyFileError(f"key file {where}: {what}must be a JSON object")
    missing = [name for name in fields if name not in value]
    if missing:
        names = ", ".join(prefix + name for name in missing)
        raise KeyFileError(f"key file {where}: missing field {names}")
    unknown = sorted(name for name in value if name not in fields)
    if unknown:
        names = ", ".join(prefix + name for name in unknown)
        raise KeyFileError(f"key file {where}: unknown field {names}")


def _hex_field(where: str, name: str, value: object, length: int) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise KeyFileError(f"key file {where}: {name} must be a 0x-prefixed hex string")
    data = bytes.fromhex(value[2:])
    if len(data) != length:
        raise KeyFileError(f"key file {where}: {name} must be {length} bytes, got {len(data)}")
    return data
