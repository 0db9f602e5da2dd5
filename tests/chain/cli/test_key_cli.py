"""`xpl key generate` and `xpl key inspect`, run through the CLI's own entry point."""

from __future__ import annotations

import functools
import json
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nacl.pwhash import argon2id

import chain.cli.key
from chain.cli.main import main
from chain.keystore import read_key_file, write_key_file
from runtime.primitives.address import decode_address, encode_address
from runtime.primitives.keys import Keypair, dev_keypair

REPO_ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "hunter2 but longer"


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write key files with Argon2id's minimum cost so the tests stay fast."""
    fast = functools.partial(
        write_key_file, opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
    )
    monkeypatch.setattr(chain.cli.key, "write_key_file", fast)


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XPL_TEST_PASSWORD", PASSWORD)
    return "XPL_TEST_PASSWORD"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    assert out.count("\n") == 1
    document: dict[str, Any] = json.loads(out)
    return document


def lines(keypair: Keypair, *, secret: bool) -> list[str]:
    shown = [
        f"Address:     {encode_address(keypair.public)}",
        f"Public key:  0x{keypair.public.hex()}",
    ]
    return [*shown, f"Secret seed: 0x{keypair.seed.hex()}"] if secret else shown


def answers(*replies: str) -> Callable[[str], str]:
    queue: Iterator[str] = iter(replies)

    def getpass(prompt: str = "") -> str:
        return next(queue)

    return getpass


def test_inspect_dev_uri(capsys: pytest.CaptureFixture[str]) -> None:
    alice = dev_keypair("Alice")
    code, out, err = run(capsys, "key", "inspect", "//Alice")
    assert code == 0
    assert out.splitlines() == lines(alice, secret=True)
    assert err == ""


def test_inspect_json(capsys: pytest.CaptureFixture[str]) -> None:
    alice = dev_keypair("Alice")
    assert run_json(capsys, "key", "inspect", "//Alice") == {
        "address": encode_address(alice.public),
        "publicKey": "0x" + alice.public.hex(),
        "secretSeed": "0x" + alice.seed.hex(),
    }


def test_inspect_hex_seed(capsys: pytest.CaptureFixture[str]) -> None:
    keypair = Keypair.from_seed(bytes(range(32)))
    code, out, _ = run(capsys, "key", "inspect", "0x" + bytes(range(32)).hex())
    assert code == 0
    assert out.splitlines() == lines(keypair, secret=True)


@pytest.mark.parametrize("form", ["address", "public key", "dev uri"])
def test_inspect_address_never_shows_a_secret(
    capsys: pytest.CaptureFixture[str], form: str
) -> None:
    bob = dev_keypair("Bob")
    text = {
        "address": encode_address(bob.public),
        "public key": "0x" + bob.public.hex(),
        "dev uri": "//Bob",
    }[form]
    code, out, _ = run(capsys, "key", "inspect", "--address", text)
    assert code == 0
    assert out.splitlines() == lines(bob, secret=False)
    assert run_json(capsys, "key", "inspect", "--address", text) == {
        "address": encode_address(bob.public),
        "publicKey": "0x" + bob.public.hex(),
    }


def test_inspect_mistyped_address(capsys: pytest.CaptureFixture[str]) -> None:
    address = encode_address(dev_keypair("Bob").public)
    typo = address[:-3] + ("A" if address[-3] != "A" else "B") + address[-2:]
    code, out, err = run(capsys, "key", "inspect", "--address", typo)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert "checksum mismatch: the address is mistyped" in err
    assert err.count("\n") == 1


def test_inspect_address_given_as_suri_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    address = encode_address(dev_keypair("Bob").public)
    code, _, err = run(capsys, "key", "inspect", address)
    assert code == 1
    assert f"use --address {address}" in err


def test_inspect_bad_suri(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "key", "inspect", "Alice")
    assert code == 1
    assert "expected //Name" in err


def test_inspect_needs_exactly_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["key", "inspect"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["key", "inspect", "//Alice", "--address", "//Bob"])
    assert info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_generate_prints_a_new_secret_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "key", "generate")
    assert code == 0
    address, public, seed = (line.split(":", 1)[1].strip() for line in out.splitlines())
    keypair = Keypair.from_seed(bytes.fromhex(seed[2:]))
    assert public == "0x" + keypair.public.hex()
    assert decode_address(address) == keypair.public
    assert "secret" in err
    assert err.startswith("warning: ")


def test_generate_is_random(capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(capsys, "key", "generate")
    second = run_json(capsys, "key", "generate")
    assert first["secretSeed"] != second["secretSeed"]


def test_generate_from_suri(capsys: pytest.CaptureFixture[str]) -> None:
    charlie = dev_keypair("Charlie")
    code, out, err = run(capsys, "key", "generate", "--suri", "//Charlie")
    assert code == 0
    assert out.splitlines() == lines(charlie, secret=True)
    assert "development key that anyone can recompute" in err


def test_generate_key_file_then_inspect_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, password_env: str
) -> None:
    out_file = tmp_path / "k.json"
    code, out, _ = run(
        capsys, "key", "generate", "--out", str(out_file), "--password-env", password_env
    )
    assert code == 0
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    keypair = read_key_file(out_file, PASSWORD.encode())
    assert out.splitlines() == [f"Key file:    {out_file}", *lines(keypair, secret=False)]
    assert "Secret seed" not in out
    shown = run_json(
        capsys, "key", "inspect", "--key-file", str(out_file), "--password-env", password_env
    )
    assert shown == {
        "address": encode_address(keypair.public),
        "publicKey": "0x" + keypair.public.hex(),
    }


def test_generate_key_file_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, password_env: str
) -> None:
    out_file = tmp_path / "d.json"
    dave = dev_keypair("Dave")
    shown = run_json(
        capsys,
        "key",
        "generate",
        "--suri",
        "//Dave",
        "--out",
        str(out_file),
        "--password-env",
        password_env,
    )
    assert shown == {"address": encode_address(dave.public), "publicKey": "0x" + dave.public.hex()}
    assert read_key_file(out_file, PASSWORD.encode()) == dave


def test_generate_key_file_with_prompted_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_file = tmp_path / "k.json"
    monkeypatch.setattr("getpass.getpass", answers("typed pw", "typed pw"))
    code, _, _ = run(capsys, "key", "generate", "--suri", "//Eve", "--out", str(out_file))
    assert code == 0
    assert read_key_file(out_file, b"typed pw") == dev_keypair("Eve")
    monkeypatch.setattr("getpass.getpass", answers("typed pw"))
    code, out, _ = run(capsys, "key", "inspect", "--key-file", str(out_file))
    assert code == 0
    assert out.splitlines() == lines(dev_keypair("Eve"), secret=False)


def test_generate_refuses_mismatched_prompts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getpass", answers("one", "two"))
    code, out, err = run(capsys, "key", "generate", "--out", str(tmp_path / "k.json"))
    assert code == 1
    assert "do not match" in err
    assert not (tmp_path / "k.json").exists()
    assert out == ""


def test_generate_refuses_to_overwrite_unless_told(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, password_env: str
) -> None:
    out_file = tmp_path / "k.json"
    base = ["key", "generate", "--out", str(out_file), "--password-env", password_env]
    assert run(capsys, *base, "--suri", "//Alice")[0] == 0
    code, _, err = run(capsys, *base, "--suri", "//Bob")
    assert code == 1
    assert "already exists; pass --overwrite" in err
    assert read_key_file(out_file, PASSWORD.encode()) == dev_keypair("Alice")
    assert run(capsys, *base, "--suri", "//Bob", "--overwrite")[0] == 0
    assert read_key_file(out_file, PASSWORD.encode()) == dev_keypair("Bob")


def test_inspect_key_file_with_wrong_password(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_file = tmp_path / "k.json"
    monkeypatch.setenv("XPL_TEST_PASSWORD", "right")
    run(capsys, "key", "generate", "--out", str(out_file), "--password-env", "XPL_TEST_PASSWORD")
    monkeypatch.setenv("XPL_TEST_PASSWORD", "wrong")
    code, out, err = run(
        capsys, "key", "inspect", "--key-file", str(out_file), "--password-env", "XPL_TEST_PASSWORD"
    )
    assert code == 1
    assert out == ""
    assert "cannot decrypt: wrong password or corrupted file" in err


def test_unset_password_variable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        capsys,
        "key",
        "generate",
        "--out",
        str(tmp_path / "k.json"),
        "--password-env",
        "XPL_NO_SUCH_VAR",
    )
    assert code == 1
    assert "XPL_NO_SUCH_VAR" in err
    assert not (tmp_path / "k.json").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["key", "generate", "--password-env", "X"],
        ["key", "generate", "--overwrite"],
        ["key", "inspect", "//Alice", "--password-env", "X"],
    ],
)
def test_options_that_need_a_file_are_refused_without_one(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "applies only with" in err or "apply only with" in err


def test_real_process_inspects_alice() -> None:
    alice = dev_keypair("Alice")
    result = subprocess.run(
        [sys.executable, "-m", "chain.cli.main", "key", "inspect", "//Alice"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == lines(alice, secret=True)
