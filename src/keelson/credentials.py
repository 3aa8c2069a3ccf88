"""`keelson credentials backup|restore`: the controller's half of the cluster's trust (the etcd CA,
the admin kubeconfig, every file under `<inventory>/credentials/`) in one encrypted file.

The file: a header line, a scrypt salt and an AES-256-GCM nonce, then the encrypted tar of the
directory (the header is authenticated too). A wrong passphrase or a damaged file fails the
decryption as a whole: nothing is restored. A restore writes only files that are missing (0600,
directories 0700) and refuses, before writing anything, when a file that is there differs from
the backup: a controller's CA is never replaced behind the operator's back.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keelson.errors import CredentialsError, UsageError

MAGIC = b"keelson-credentials 1\n"
_SALT, _NONCE = 16, 12
# scrypt's interactive cost (2^15, 32 MiB): about 0.1 s here, and so per guess.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
PASSPHRASE_ENV = "KEELSON_CREDENTIALS_PASSPHRASE"
MIN_PASSPHRASE = 12


@dataclass(frozen=True)
class Entry:
    """One file of the credentials directory: its path inside it and its content."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def directory(inventory: Path) -> Path:
    """`credentials/` beside the inventory (Ansible's inventory_dir), as the roles write it."""
    return (inventory if inventory.is_dir() else inventory.parent) / "credentials"


def read_entries(root: Path) -> list[Entry]:
    """Every regular file under ROOT, sorted; links and other kinds are refused (a backup holds
    what the directory holds, not what a link points at)."""
    if not root.is_dir():
        raise CredentialsError(f"{root} does not exist: there are no credentials to back up")
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise CredentialsError(f"{path} is not a regular file: credentials hold files only")
        if path.is_file():
            entries.append(Entry(path.relative_to(root).as_posix(), path.read_bytes()))
    if not entries:
        raise CredentialsError(f"{root} is empty: there are no credentials to back up")
    return entries


def _key(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return kdf.derive(passphrase.encode())


def seal(entries: list[Entry], passphrase: str) -> bytes:
    """The encrypted backup of ENTRIES."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.size, info.mode = len(entry.data), 0o600
            archive.addfile(info, io.BytesIO(entry.data))
    salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
    header = MAGIC + salt + nonce
    return header + AESGCM(_key(passphrase, salt)).encrypt(nonce, buffer.getvalue(), header)


def unseal(blob: bytes, passphrase: str, name: str) -> list[Entry]:
    """The entries of the backup BLOB (read from NAME); refuses a wrong passphrase, a damaged or
    foreign file, and paths that would leave the credentials directory."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _SALT + _NONCE + 16:
        raise CredentialsError(f"{name} is not a keelson credentials backup")
    salt = blob[len(MAGIC) : len(MAGIC) + _SALT]
    nonce = blob[len(MAGIC) + _SALT : len(MAGIC) + _SALT + _NONCE]
    header = blob[: len(MAGIC) + _SALT + _NONCE]
    try:
        plain = AESGCM(_key(passphrase, salt)).decrypt(nonce, blob[len(header) :], header)
    except InvalidTag:
        raise CredentialsError(
            f"{name}: wrong passphrase, or the file was changed or damaged; nothing was restored"
        ) from None
    entries = []
    with tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz") as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or path.is_absolute() or ".." in path.parts:
                raise CredentialsError(f"{name}: holds '{member.name}', which is not a file inside")
            extracted = archive.extractfile(member)
            assert extracted is not None  # a regular file always has content
            entries.append(Entry(path.as_posix(), extracted.read()))
    return entries


def _write_private(path: Path, data: bytes) -> None:
    """DATA to PATH, 0600 from the start, in place only once complete."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(data)
    partial.replace(path)


def backup(inventory: Path, output: Path, passphrase: str) -> list[Entry]:
    """Write the encrypted backup of the inventory's credentials to OUTPUT (0600)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the passphrase is shorter than {MIN_PASSPHRASE} characters")
    if output.exists():
        raise UsageError(f"{output} exists: name another file, or move that one aside")
    entries = read_entries(directory(inventory))
    _write_private(output, seal(entries, passphrase))
    return entries


def restore(inventory: Path, source: Path, passphrase: str) -> tuple[list[Entry], list[Entry]]:
    """Restore the backup SOURCE into the inventory's credentials directory: (written, already
    there). Refuses before writing anything when a file there differs from the backup."""
    if not source.is_file():
        raise UsageError(f"{source} does not exist")
    entries = unseal(source.read_bytes(), passphrase, str(source))
    root = directory(inventory)
    present = [e for e in entries if (root / e.path).exists()]
    differing = [e.path for e in present if (root / e.path).read_bytes() != e.data]
    if differing:
        raise CredentialsError(
            f"{root} already holds other versions of {', '.join(differing)}: nothing was "
            "restored; move the directory aside if the backup is the one to keep"
        )
    missing = [e for e in entries if e not in present]
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in missing:
        _write_private(root / entry.path, entry.data)
    return missing, present


def passphrase(ask: Callable[[str], str], confirm: bool, interactive: bool) -> str:
    """The passphrase: KEELSON_CREDENTIALS_PASSPHRASE, else asked (twice for a backup) on a
    terminal; without either, a one-line refusal."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    if not interactive:
        raise UsageError(f"no passphrase: run it on a terminal, or set {PASSPHRASE_ENV}")
    first = ask("Passphrase: ")
    if confirm and ask("Passphrase again: ") != first:
        raise UsageError("the two passphrases differ")
    return first
