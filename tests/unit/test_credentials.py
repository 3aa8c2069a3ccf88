"""`keelson credentials backup|restore`: the controller's credentials in one encrypted file, put
back only where nothing differs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from keelson import credentials
from keelson.cli import main
from keelson.errors import CredentialsError, UsageError

PASSPHRASE = "correct horse battery staple"
FILES = {
    "etcd-pki/ca.key": b"-----BEGIN EC PRIVATE KEY-----\nsecret-ca-key\n-----END...\n",
    "etcd-pki/ca.crt": b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
    "admin.conf": b"apiVersion: v1\nclient-key-data: c2VjcmV0\n",
}


def site(tmp_path: Path, name: str = "prod", files: dict[str, bytes] = FILES) -> Path:
    """An inventory directory NAME with a hosts file and FILES under credentials/."""
    inv = tmp_path / name
    inv.mkdir()
    (inv / "hosts.yml").write_text("all: {}\n")
    for path, data in files.items():
        target = inv / "credentials" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return inv


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_restores_every_file_private_on_a_new_controller(tmp_path: Path) -> None:
    backup = tmp_path / "prod.keelson"
    written = credentials.backup(site(tmp_path), backup, PASSPHRASE)
    assert sorted(e.path for e in written) == sorted(FILES)
    assert mode(backup) == 0o600
    blob = backup.read_bytes()
    assert blob.startswith(credentials.MAGIC)
    assert b"secret-ca-key" not in blob and b"client-key-data" not in blob

    fresh = tmp_path / "checkout"
    fresh.mkdir()
    (fresh / "hosts.yml").write_text("all: {}\n")
    restored, present = credentials.restore(fresh / "hosts.yml", backup, PASSPHRASE)
    assert (sorted(e.path for e in restored), present) == (sorted(FILES), [])
    for path, data in FILES.items():
        assert (fresh / "credentials" / path).read_bytes() == data
        assert mode(fresh / "credentials" / path) == 0o600
    assert mode(fresh / "credentials") == 0o700
    assert mode(fresh / "credentials" / "etcd-pki") == 0o700


def test_a_wrong_passphrase_or_a_changed_byte_restores_nothing(tmp_path: Path) -> None:
    backup = tmp_path / "prod.keelson"
    credentials.backup(site(tmp_path), backup, PASSPHRASE)
    fresh = site(tmp_path, "fresh", files={})
    with pytest.raises(CredentialsError, match="wrong passphrase, or the file was changed"):
        credentials.restore(fresh, backup, "not the passphrase at all")
    blob = bytearray(backup.read_bytes())
    blob[-20] ^= 1
    backup.write_bytes(bytes(blob))
    with pytest.raises(CredentialsError, match="nothing was restored"):
        credentials.restore(fresh, backup, PASSPHRASE)
    # The salt is authenticated too: a changed header is refused as well.
    blob = bytearray(
        credentials.seal(credentials.read_entries(fresh.parent / "prod/credentials"), PASSPHRASE)
    )
    blob[len(credentials.MAGIC)] ^= 1
    backup.write_bytes(bytes(blob))
    with pytest.raises(CredentialsError):
        credentials.restore(fresh, backup, PASSPHRASE)
    assert not (fresh / "credentials").exists()


def test_a_file_that_differs_is_never_replaced_and_nothing_is_written(tmp_path: Path) -> None:
    backup = tmp_path / "prod.keelson"
    credentials.backup(site(tmp_path), backup, PASSPHRASE)
    other_ca = {"etcd-pki/ca.crt": b"another CA\n"}
    there = site(tmp_path, "there", files=other_ca)
    with pytest.raises(CredentialsError, match=r"other versions of etcd-pki/ca\.crt"):
        credentials.restore(there, backup, PASSPHRASE)
    assert (there / "credentials/etcd-pki/ca.crt").read_bytes() == b"another CA\n"
    assert not (there / "credentials/etcd-pki/ca.key").exists()


def test_identical_files_are_kept_and_missing_ones_restored(tmp_path: Path) -> None:
    backup = tmp_path / "prod.keelson"
    credentials.backup(site(tmp_path), backup, PASSPHRASE)
    partial = site(tmp_path, "partial", files={"admin.conf": FILES["admin.conf"]})
    restored, present = credentials.restore(partial, backup, PASSPHRASE)
    assert [e.path for e in present] == ["admin.conf"]
    assert sorted(e.path for e in restored) == ["etcd-pki/ca.crt", "etcd-pki/ca.key"]


def test_paths_that_leave_the_directory_are_refused(tmp_path: Path) -> None:
    evil = credentials.seal([credentials.Entry("../hosts.yml", b"all: {}\n")], PASSPHRASE)
    with pytest.raises(CredentialsError, match=r"'\.\./hosts\.yml', which is not a file inside"):
        credentials.unseal(evil, PASSPHRASE, "evil.keelson")


def test_backups_refuse_what_they_cannot_do_well(tmp_path: Path) -> None:
    inv = site(tmp_path)
    with pytest.raises(UsageError, match="shorter than 12"):
        credentials.backup(inv, tmp_path / "a.keelson", "short")
    (tmp_path / "exists.keelson").write_text("keep me")
    with pytest.raises(UsageError, match="exists"):
        credentials.backup(inv, tmp_path / "exists.keelson", PASSPHRASE)
    assert (tmp_path / "exists.keelson").read_text() == "keep me"
    with pytest.raises(CredentialsError, match="no credentials to back up"):
        credentials.backup(site(tmp_path, "empty", files={}), tmp_path / "b.keelson", PASSPHRASE)
    (inv / "credentials/link").symlink_to("/etc/hostname")
    with pytest.raises(CredentialsError, match="not a regular file"):
        credentials.backup(inv, tmp_path / "c.keelson", PASSPHRASE)
    with pytest.raises(CredentialsError, match="not a keelson credentials backup"):
        credentials.unseal(b"plain text", PASSPHRASE, "x")


def test_the_cli_asks_for_a_passphrase_or_refuses_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = site(tmp_path)
    output = tmp_path / "out.keelson"
    monkeypatch.delenv(credentials.PASSPHRASE_ENV, raising=False)
    # pytest's stdin is no terminal: without the variable there is no way to ask.
    assert main(["credentials", "backup", "-i", str(inv), "-o", str(output)]) == 2
    assert capsys.readouterr().err == (
        "keelson: error: no passphrase: run it on a terminal, or set"
        " KEELSON_CREDENTIALS_PASSPHRASE\n"
    )
    assert not output.exists()

    monkeypatch.setenv(credentials.PASSPHRASE_ENV, PASSPHRASE)
    assert main(["credentials", "backup", "-i", str(inv), "-o", str(output)]) == 0
    assert "credentials backup " in capsys.readouterr().out
    fresh = site(tmp_path, "fresh", files={})
    assert main(["credentials", "restore", "-i", str(fresh), str(output)]) == 0
    assert "3 restored, 0 already there" in capsys.readouterr().out
    monkeypatch.setenv(credentials.PASSPHRASE_ENV, "a wrong passphrase")
    assert main(["credentials", "restore", "-i", str(fresh), str(output)]) == 11
    assert "wrong passphrase" in capsys.readouterr().err
