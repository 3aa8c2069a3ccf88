"""Certificates of a cluster and their expiry (playbooks/certs-check.yml reads them on the hosts;
this module sorts and prints them) and their renewal (playbooks/certs-renew.yml)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from keelson import table
from keelson.progress import RunResult
from keelson.runner import run_for_report, run_playbook

DAY = 86400


def check(inv: Path) -> list[dict[str, Any]]:
    """Every certificate on the inventory's etcd and Kubernetes hosts, soonest expiry first:
    host, path, what, subject, issuer, expires, not_after."""
    found = run_for_report(
        "certs-check.yml", inv, kind="certs-check", report="certificates.json", extravars={}
    )
    rows = [{"host": host, **cert} for host, certs in found.items() for cert in certs or []]
    return sorted(rows, key=lambda r: (r["not_after"], r["host"], r["path"]))


def _common_name(subject: str) -> str:
    for part in subject.split(","):
        if part.startswith("CN="):
            return part[3:]
    return subject


def due(rows: list[dict[str, Any]], days: int, now: float | None = None) -> list[dict[str, Any]]:
    """The certificates that expire within DAYS days (or have)."""
    now = time.time() if now is None else now
    return [r for r in rows if r["not_after"] - now < days * DAY]


def render(rows: list[dict[str, Any]], days: int, now: float | None = None) -> str:
    """A line per certificate (host, file, what, CN, expiry, days left), and those expiring
    within DAYS days named at the end."""
    now = time.time() if now is None else now
    cells = []
    for r in rows:
        left = (r["not_after"] - now) / DAY
        what = "" if r["what"] == "file" else r["what"].removesuffix("-data")
        flag = "EXPIRED" if left < 0 else ("renew" if left < days else "")
        cells.append(
            [
                r["host"],
                r["path"],
                what,
                _common_name(r["subject"]),
                r["expires"],
                f"{left:.0f}",
                flag,
            ]
        )
    lines = [table.render(["host", "file", "field", "CN", "expires", "days>", ""], cells)]
    due = [c for c in cells if c[-1]]
    lines.append(
        f"{len(rows)} certificates; "
        + (
            f"{len(due)} expire within {days} days (keelson certs renew)"
            if due
            else f"none expires within {days} days"
        )
    )
    return "\n".join(lines)


def renew(inv: Path) -> RunResult:
    """Renew kubeadm's certificates on every control plane, one at a time, each API server out of
    the node-local load balancers while its control plane restarts (playbooks/certs-renew.yml)."""
    result = run_playbook("certs-renew.yml", inv, kind="certs-renew")
    result.raise_for_failure()
    return result
