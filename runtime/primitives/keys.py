"""Ed25519 keys: account ids are public keys; signatures are 64 bytes (PyNaCl / libsodium).

Development keys: the secret URI `//Name` (for example `//Alice`) derives the 32-byte Ed25519 seed
BLAKE2b-256(b"xpl-dev-account:" ‖ UTF-8 of "//Name"). Anyone can recompute these keys, so they are
funded only in the `dev` and `local` chain specs. A secret URI may also be a 0x-prefixed 32-byte
hex seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from nacl.bindings import crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from runtime.primitives.hashing import blake2b_256, from_hex

PUBLIC_KEY_LEN: Final = 32
SIGNATURE_LEN: Final = 64
SEED_LEN: Final = 32
DEV_ACCOUNT_NAMES: Final = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
_DEV_DOMAIN: Final = b"xpl-dev-account:"


class InvalidKey(ValueError):
    """A secret URI or seed that does not describe a key."""


@dataclass(frozen=True, slots=True)
class Keypair:
    """An Ed25519 key pair; `public` is the account id."""

    seed: bytes = field(repr=False)
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> Keypair:
        """Derive the key pair of a 32-byte seed."""
        if len(seed) != SEED_LEN:
            raise InvalidKey(f"a seed is {SEED_LEN} bytes, got {len(seed)}")
        public, _secret = crypto_sign_seed_keypair(seed)
        return cls(seed=bytes(seed), public=public)

    @classmethod
    def generate(cls) -> Keypair:
        """A fresh random key pair from the operating system's randomness."""
        return cls.from_seed(bytes(SigningKey.generate()))

    def sign(self, message: bytes) -> bytes:
        """Sign `message`; returns the 64-byte detached signature."""
        return SigningKey(self.seed).sign(message).signature


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Check an Ed25519 signature; False for any malformed key or signature."""
    if len(signature) != SIGNATURE_LEN or len(public) != PUBLIC_KEY_LEN:
        return False
    try:
        crypto_sign_open(signature + message, public)
    except (BadSignatureError, ValueError):
        return False
    return True


def dev_seed(uri: str) -> bytes:
    """The documented seed of a development URI such as `//Alice`."""
    return blake2b_256(_DEV_DOMAIN + uri.encode())


def keypair_from_suri(suri: str) -> Keypair:
    """Key pair from a secret URI: `//Name` (development derivation) or a 0x hex seed."""
    if suri.startswith("//"):
        name = suri[2:]
        if not name or not name.isprintable() or "/" in name:
            raise InvalidKey(f"secret URI {suri!r}: expected //Name, for example //Alice")
        return Keypair.from_seed(dev_seed(suri))
    if suri.startswith("0x"):
        try:
            return Keypair.from_seed(from_hex(suri, length=SEED_LEN, what="seed"))
        except ValueError as exc:
            raise InvalidKey(f"secret URI: {exc}") from exc
    raise InvalidKey(f"secret URI {suri!r}: expected //Name (for example //Alice) or a 0x hex seed")


def dev_keypair(name: str) -> Keypair:
    """Key pair of a named development account, e.g. `dev_keypair("Alice")`."""
    return keypair_from_suri("//" + name)
