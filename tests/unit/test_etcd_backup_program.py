"""keelson-etcd-backup (roles/etcd_backup/files): names, retention and verification, run here on
the controller; the molecule scenario and integration tests run it against real etcd."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

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


def _snapshot(tmp_path: Path, payload: bytes) -> Path:
    name = "etcd-20261125T031500Z-r7"
    db = tmp_path / f"{name}.db"
    db.write_bytes(payload)
    compressed = tmp_path / f"{name}.db.gz"
    compressed.write_bytes(gzip.compress(payload))
    digest = hashlib.sha256(compressed.read_bytes()).hexdigest()
    (tmp_path / f"{name}.db.gz.sha256").write_text(f"{digest}  {compressed.name}\n")
    (tmp_path / f"{name}.json").write_text(
        json.dumps(
            {
                "name": name,
                "sha256": digest,
                "revision": 7,
                "hash": 1,
                "total_keys": 2,
                "db_sha256": hashlib.sha256(payload).hexdigest(),
            }
        )
    )
    db.unlink()
    return compressed


def test_verify_refuses_an_altered_file_before_reading_it(tmp_path: Path) -> None:
    compressed = _snapshot(tmp_path, b"etcd bolt database" * 100)
    data = bytearray(compressed.read_bytes())
    data[20] ^= 0xFF
    compressed.write_bytes(bytes(data))
    with pytest.raises(prog.BackupError, match="altered or truncated"):
        prog.verify(compressed)
    assert not compressed.with_name("etcd-20261125T031500Z-r7.db").exists()


def test_verify_refuses_a_truncated_file(tmp_path: Path) -> None:
    compressed = _snapshot(tmp_path, b"etcd bolt database" * 100)
    compressed.write_bytes(compressed.read_bytes()[:-10])
    with pytest.raises(prog.BackupError, match="altered or truncated"):
        prog.verify(compressed)


def test_verify_names_a_missing_metadata_file(tmp_path: Path) -> None:
    compressed = _snapshot(tmp_path, b"x" * 10)
    compressed.with_name("etcd-20261125T031500Z-r7.json").unlink()
    with pytest.raises(prog.BackupError, match=r"etcd-20261125T031500Z-r7\.json is missing"):
        prog.verify(compressed)


def test_metrics_carry_only_what_is_known() -> None:
    text = prog.metrics_text({"success_time": 1700000000, "size": 1234, "revision": 9})
    assert "keelson_etcd_backup_last_success_timestamp_seconds 1700000000" in text
    assert "keelson_etcd_backup_last_size_bytes 1234" in text
    assert "failure" not in text
    assert "# TYPE keelson_etcd_backup_last_revision gauge" in text
