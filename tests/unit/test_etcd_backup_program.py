"""keelson-etcd-backup (roles/etcd_backup/files): names, retention and verification, run here on
the controller; the molecule scenario and integration tests run it against real etcd."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import importlib.machinery
import importlib.util
import io
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROGRAM = Path(__file__).resolve().parents[2] / "roles/etcd_backup/files/keelson-etcd-backup"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("keelson_etcd_backup", str(PROGRAM))
    spec = importlib.util.spec_from_loader("keelson_etcd_backup", loader)
    assert spec
    module = importlib.util.module_from_spec(spec)
    sys.modules["keelson_etcd_backup"] = module
    loader.exec_module(module)
    return module


prog = _load()
UTC = dt.UTC


def _names(start: dt.datetime, count: int, step: dt.timedelta) -> list[str]:
    return [prog.snapshot_name(start + i * step, 100 + i) for i in range(count)]


def test_names_round_trip_and_reject_strangers() -> None:
    taken = dt.datetime(2026, 11, 25, 3, 15, 0, tzinfo=UTC)
    name = prog.snapshot_name(taken, 4242)
    assert name == "etcd-20261125T031500Z-r4242"
    assert prog.parse_name(name) == taken
    for stranger in (
        "etcd-20261125T031500Z",
        "etcd-2026-11-25-r1",
        "x-20261125T031500Z-r1",
        "etcd-20261125T031500Z-rX",
        ".etcd-20261125T031500Z-r1.partial",
    ):
        assert prog.parse_name(stranger) is None


def test_keep_last_only() -> None:
    names = _names(dt.datetime(2026, 11, 1, tzinfo=UTC), 10, dt.timedelta(hours=1))
    assert prog.select_kept(names, last=3, daily=0, weekly=0) == set(names[-3:])


def test_daily_and_weekly_keep_the_newest_of_each_period() -> None:
    # Every 6 hours over 30 days: 120 snapshots.
    start = dt.datetime(2026, 10, 1, tzinfo=UTC)
    names = _names(start, 120, dt.timedelta(hours=6))
    kept = prog.select_kept(names, last=2, daily=3, weekly=2)
    newest_of_day = {n for n in names if prog.parse_name(n).hour == 18}  # type: ignore[union-attr]
    days = sorted(newest_of_day)[-3:]
    # The last two, the newest of the last three days (the newest day's is also among the
    # last two), and the newest of the last two ISO weeks.
    weeks: dict[tuple[int, int], str] = {}
    for n in names:
        weeks[prog.parse_name(n).isocalendar()[:2]] = n  # type: ignore[union-attr]
    expected = set(names[-2:]) | set(days) | set(sorted(weeks.values())[-2:])
    assert kept == expected
    assert len(kept) == 5  # 2 last (one is also the newest day's and week's), 2 more days, 1 week


def test_strangers_in_the_store_are_never_pruned() -> None:
    names = [
        *_names(dt.datetime(2026, 11, 1, tzinfo=UTC), 5, dt.timedelta(days=1)),
        "notes",
        "etcd-before-upgrade",
        "etcd-20261101T000000Z-rX",
    ]
    assert prog.select_pruned(names, last=1, daily=0, weekly=0) == sorted(names[:4])
    assert prog.select_pruned(names, last=0, daily=0, weekly=0) == sorted(names[:5])


NAME = "etcd-20261125T031500Z-r7"


def _keyfile(path: Path, *keys: bytes) -> Any:
    path.write_text("".join(base64.b64encode(k).decode() + "\n" for k in keys))
    return prog.Keys(path)


@pytest.fixture
def keys(tmp_path: Path) -> Any:
    return _keyfile(tmp_path / "backup.key", b"k" * 32)


def _snapshot(directory: Path, keys: Any, payload: bytes) -> Path:
    """A snapshot as `run` writes it: NAME.db.gz.enc and its signed NAME.json."""
    directory.mkdir(exist_ok=True)
    compressed = directory / "plain.db.gz"
    compressed.write_bytes(gzip.compress(payload))
    encrypted = directory / f"{NAME}.db.gz.enc"
    prog.crypt(keys.keys[0], compressed, encrypted, decrypt=False)
    compressed.unlink()
    metadata = {
        "format": prog.FORMAT,
        "name": NAME,
        "sha256": prog.sha256_of(encrypted),
        "size": encrypted.stat().st_size,
        "revision": 7,
        "hash": 1,
        "total_keys": 2,
        "db_sha256": hashlib.sha256(payload).hexdigest(),
        "kubernetes_pki": None,
    }
    (directory / f"{NAME}.json").write_text(json.dumps(prog.sign(metadata, keys)))
    return encrypted


def test_snapshots_are_encrypted_and_decrypt_with_the_backup_key(tmp_path: Path, keys: Any) -> None:
    payload = b"etcd bolt database with a Secret: hunter2 " * 100
    plain = tmp_path / "plain"
    plain.write_bytes(payload)
    prog.crypt(keys.keys[0], plain, tmp_path / "enc", decrypt=False)
    assert b"hunter2" not in (tmp_path / "enc").read_bytes()
    # Two encryptions of the same bytes differ (a fresh salt, so a fresh file key, each time).
    prog.crypt(keys.keys[0], plain, tmp_path / "enc2", decrypt=False)
    assert (tmp_path / "enc").read_bytes() != (tmp_path / "enc2").read_bytes()
    prog.crypt(keys.keys[0], tmp_path / "enc", tmp_path / "back", decrypt=True)
    assert (tmp_path / "back").read_bytes() == payload
    assert (tmp_path / "back").stat().st_mode & 0o777 == 0o600


def test_verify_refuses_an_altered_file_before_decrypting_it(tmp_path: Path, keys: Any) -> None:
    encrypted = _snapshot(tmp_path, keys, b"etcd bolt database" * 100)
    data = bytearray(encrypted.read_bytes())
    data[20] ^= 0xFF
    encrypted.write_bytes(bytes(data))
    with pytest.raises(prog.BackupError, match="altered or truncated"):
        prog.verify(encrypted, keys)
    assert not (tmp_path / f"{NAME}.db").exists()


def test_verify_refuses_a_truncated_file(tmp_path: Path, keys: Any) -> None:
    encrypted = _snapshot(tmp_path, keys, b"etcd bolt database" * 100)
    encrypted.write_bytes(encrypted.read_bytes()[:-10])
    with pytest.raises(prog.BackupError, match="altered or truncated"):
        prog.verify(encrypted, keys)


def test_a_snapshot_planted_with_matching_checksums_is_refused(tmp_path: Path, keys: Any) -> None:
    """What the store's user (or whoever holds it) can do without the backup key: write its own
    file and metadata whose checksums match. The HMAC is what refuses it."""
    encrypted = _snapshot(tmp_path, keys, b"etcd bolt database" * 100)
    encrypted.write_bytes(b"planted" * 100)
    meta_file = tmp_path / f"{NAME}.json"
    metadata = json.loads(meta_file.read_text())
    metadata["sha256"] = prog.sha256_of(encrypted)
    meta_file.write_text(json.dumps(metadata))
    with pytest.raises(prog.BackupError, match="does not authenticate with the backup key"):
        prog.verify(encrypted, keys)


def test_the_metadata_of_another_snapshot_is_refused(tmp_path: Path, keys: Any) -> None:
    _snapshot(tmp_path / "a", keys, b"first" * 100)
    other = tmp_path / "a" / "etcd-20261126T000000Z-r8.db.gz.enc"
    (tmp_path / "a" / f"{NAME}.db.gz.enc").rename(other)
    (tmp_path / "a" / f"{NAME}.json").rename(other.with_name("etcd-20261126T000000Z-r8.json"))
    with pytest.raises(prog.BackupError, match=f"describes {NAME}, not etcd-20261126T000000Z-r8"):
        prog.verify(other, keys)


def test_another_clusters_key_is_refused_and_a_rotated_one_still_opens(tmp_path: Path) -> None:
    old = _keyfile(tmp_path / "old.key", b"o" * 32)
    encrypted = _snapshot(tmp_path / "snap", old, b"x" * 10)
    stranger = _keyfile(tmp_path / "stranger.key", b"s" * 32)
    with pytest.raises(prog.BackupError, match=r"made with the backup key [0-9a-f]{16}, which"):
        prog.verify(encrypted, stranger)
    assert not (tmp_path / "snap" / f"{NAME}.db").exists()
    rotated = _keyfile(tmp_path / "rotated.key", b"n" * 32, b"o" * 32)
    metadata = json.loads((tmp_path / "snap" / f"{NAME}.json").read_text())
    assert prog.authenticate(metadata, rotated) == b"o" * 32
    assert prog.sign(metadata, rotated)["key_id"] == prog.Keys.key_id(b"n" * 32)


def test_an_unencrypted_snapshot_of_the_old_format_is_refused(tmp_path: Path, keys: Any) -> None:
    encrypted = _snapshot(tmp_path, keys, b"x" * 10)
    (tmp_path / f"{NAME}.json").write_text(json.dumps({"format": 1, "name": NAME}))
    with pytest.raises(prog.BackupError, match="not an encrypted keelson snapshot"):
        prog.verify(encrypted, keys)


def test_verify_names_a_missing_metadata_file(tmp_path: Path, keys: Any) -> None:
    encrypted = _snapshot(tmp_path, keys, b"x" * 10)
    (tmp_path / f"{NAME}.json").unlink()
    with pytest.raises(prog.BackupError, match=rf"{NAME}\.json is missing"):
        prog.verify(encrypted, keys)


def test_a_key_file_without_a_usable_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "short.key").write_text(base64.b64encode(b"short").decode() + "\n")
    with pytest.raises(prog.BackupError, match="holds no backup key of 32 bytes"):
        prog.Keys(tmp_path / "short.key")
    with pytest.raises(prog.BackupError, match="cannot read the backup key"):
        prog.Keys(tmp_path / "missing.key")


# The store's side: `serve` is the forced command of every member's key (real files, no SSH).
RETENTION = {"last": 2, "daily": 0, "weekly": 0}


def _serve(base: Path, member: str, request: str, data: bytes = b"") -> bytes:
    out = io.BytesIO()
    config = {"directory": str(base), "retention": RETENTION}
    prog.serve(config, member, request, io.BytesIO(data), out)
    return out.getvalue()


def test_a_member_puts_into_its_own_directory_and_gets_the_digest_back(tmp_path: Path) -> None:
    answer = _serve(tmp_path, "node1", f"put {NAME}.db.gz.enc", b"ciphertext")
    assert answer.decode().strip() == hashlib.sha256(b"ciphertext").hexdigest()
    stored = tmp_path / "node1" / f"{NAME}.db.gz.enc"
    assert stored.read_bytes() == b"ciphertext"
    assert (tmp_path / "node1").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "node1").iterdir()] == [stored.name]  # no partial left
    assert _serve(tmp_path, "node2", f"get node1 {NAME}.db.gz.enc") == b"ciphertext"


def test_the_store_never_overwrites_a_file(tmp_path: Path) -> None:
    _serve(tmp_path, "node1", f"put {NAME}.db.gz.enc", b"first")
    with pytest.raises(prog.BackupError, match="already stored it; the store never overwrites"):
        _serve(tmp_path, "node1", f"put {NAME}.db.gz.enc", b"second")
    assert (tmp_path / "node1" / f"{NAME}.db.gz.enc").read_bytes() == b"first"


@pytest.mark.parametrize(
    "request_",
    [
        "sh",
        "rm -rf /srv/etcd-backups",
        f"rm node1/{NAME}.json",
        "put ../node2/etcd-20261125T031500Z-r7.json",
        "put notes.json",
        f"get ../../etc {NAME}.json",
        "get node1 ../../../etc/shadow",
        "list; sh",
        "put",
        "",
    ],
)
def test_anything_but_put_list_and_get_is_refused(tmp_path: Path, request_: str) -> None:
    (tmp_path / "node2").mkdir()
    (tmp_path / "node2" / f"{NAME}.json").write_text("{}")
    with pytest.raises(prog.BackupError):
        _serve(tmp_path, "node1", request_, b"data")
    assert [p.name for p in (tmp_path / "node2").iterdir()] == [f"{NAME}.json"]
    assert not (tmp_path / "node1").exists() or not any((tmp_path / "node1").iterdir())


def test_list_carries_every_members_metadata_and_who_stored_it(tmp_path: Path) -> None:
    _serve(tmp_path, "node1", f"put {NAME}.json", json.dumps({"name": NAME}).encode())
    later = "etcd-20261125T041500Z-r9"
    _serve(tmp_path, "node3", f"put {later}.json", json.dumps({"name": later}).encode())
    listed = json.loads(_serve(tmp_path, "node2", "list"))
    assert sorted((e["member"], e["metadata"]["name"]) for e in listed) == [
        ("node1", NAME),
        ("node3", later),
    ]


def test_retention_runs_on_the_store_per_member_and_spares_other_files(tmp_path: Path) -> None:
    names = _names(dt.datetime(2026, 11, 1, tzinfo=UTC), 4, dt.timedelta(hours=1))
    (tmp_path / "node1").mkdir()
    (tmp_path / "node1" / "notes.json").write_text("{}")
    for name in names[:3]:
        _serve(tmp_path, "node2", f"put {name}.db.gz.enc", b"old")
        _serve(tmp_path, "node2", f"put {name}.json", b"{}")
    for name in names:  # node1's uploads prune node1's directory only, after each metadata
        _serve(tmp_path, "node1", f"put {name}.db.gz.enc", b"data")
        _serve(tmp_path, "node1", f"put {name}.json", b"{}")
    left = sorted(p.name for p in (tmp_path / "node1").iterdir())
    assert left == sorted(
        ["notes.json"] + [f"{n}{s}" for n in names[-2:] for s in (".db.gz.enc", ".json")]
    )
    assert len(list((tmp_path / "node2").iterdir())) == 4  # its last 2 of 3: pruned by its own


def test_metrics_carry_only_what_is_known() -> None:
    text = prog.metrics_text({"success_time": 1700000000, "size": 1234, "revision": 9})
    assert "keelson_etcd_backup_last_success_timestamp_seconds 1700000000" in text
    assert "keelson_etcd_backup_last_size_bytes 1234" in text
    assert "failure" not in text
    assert "# TYPE keelson_etcd_backup_last_revision gauge" in text


def test_the_store_clears_what_abandoned_uploads_left(tmp_path: Path) -> None:
    older, newer = _names(dt.datetime(2026, 11, 1, tzinfo=UTC), 2, dt.timedelta(hours=1))
    member = tmp_path / "node1"
    member.mkdir()
    (member / f"{older}.db.gz.enc").write_bytes(b"an upload that never finished")
    stale = member / f".{older}.db.gz.enc.x1.partial"
    stale.write_bytes(b"killed")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    fresh = member / f".{newer}.json.x2.partial"
    fresh.write_bytes(b"in flight")
    _serve(tmp_path, "node1", f"put {newer}.db.gz.enc", b"data")
    _serve(tmp_path, "node1", f"put {newer}.json", b"{}")
    assert sorted(p.name for p in member.iterdir()) == sorted(
        [fresh.name, f"{newer}.db.gz.enc", f"{newer}.json"]
    )
