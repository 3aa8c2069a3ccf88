"""`keelson monitoring`: where the inventory's Prometheus and Alertmanager answer, and what they
see: readiness, targets down (with Prometheus's reason) and alerts firing. Read from the
controller over their HTTP APIs; nothing on a host changes."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keelson import inventory
from keelson.errors import InventoryError

# The roles' defaults (prometheus_web_listen_address, alertmanager_web_listen_address).
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
TIMEOUT = 5.0
# Always firing by design (the dead man's switch): not a problem.
HEARTBEAT = "Watchdog"


@dataclass
class Status:
    host: str
    prometheus: str
    alertmanager: str
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _port(listen: object, default: int) -> int:
    match = re.search(r":(\d+)$", str(listen or ""))
    return int(match.group(1)) if match else default


def _address(hostvars: dict[str, Any], host: str) -> str:
    address = str(hostvars.get("monitoring_address") or hostvars.get("ansible_host") or host)
    return f"[{address}]" if ":" in address else address


def urls(inv: Path) -> list[tuple[str, str, str]]:
    """(host, Prometheus URL, Alertmanager URL) of every monitoring host of INV."""
    groups = inventory.parse(inv)
    hosts = groups.get("monitoring") or []
    if not hosts:
        raise InventoryError(
            f"{inv}: the monitoring group holds no host: add the hosts that run Prometheus and "
            "Alertmanager to it, then run keelson deploy"
        )
    found = []
    for host in hosts:
        hostvars = inventory.host_vars(inv, host)
        address = _address(hostvars, host)
        prometheus = _port(hostvars.get("prometheus_web_listen_address"), PROMETHEUS_PORT)
        alertmanager = _port(hostvars.get("alertmanager_web_listen_address"), ALERTMANAGER_PORT)
        found.append((host, f"http://{address}:{prometheus}/", f"http://{address}:{alertmanager}/"))
    return found


def _get(url: str) -> tuple[int, str]:
    """Status and body of a GET (status 0 and the reason when nothing answered)."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 0, str(reason)


def _targets(prometheus: str, status: Status) -> None:
    code, body = _get(prometheus + "api/v1/targets?state=active")
    if code != 200:
        status.problems.append(f"its targets cannot be read (HTTP {code})")
        return
    targets = json.loads(body)["data"]["activeTargets"]
    down = [t for t in targets if t.get("health") != "up"]
    status.lines.append(f"  targets: {len(targets) - len(down)} up, {len(down)} down")
    for target in sorted(down, key=lambda t: (t["labels"].get("job", ""), t["scrapeUrl"])):
        labels = target["labels"]
        where = labels.get("host") or labels.get("instance", "")
        reason = target.get("lastError") or target.get("health")
        status.lines.append(f"    down: {labels.get('job')} on {where}: {reason}")
        status.problems.append(f"{labels.get('job')} on {where} is down")


def _alerts(prometheus: str, status: Status) -> None:
    code, body = _get(prometheus + "api/v1/alerts")
    if code != 200:
        status.problems.append(f"its alerts cannot be read (HTTP {code})")
        return
    firing = [a for a in json.loads(body)["data"]["alerts"] if a.get("state") == "firing"]
    names = sorted({a["labels"].get("alertname", "?") for a in firing})
    status.lines.append(f"  alerts firing: {', '.join(names) if names else 'none'}")
    status.problems += [f"alert {name} is firing" for name in names if name != HEARTBEAT]


def check(inv: Path) -> list[Status]:
    """Ask every monitoring host's Prometheus and Alertmanager how they are."""
    found = []
    for host, prometheus, alertmanager in urls(inv):
        status = Status(host, prometheus, alertmanager)
        for name, url, page in (
            ("Prometheus", prometheus, prometheus),
            ("Alertmanager", alertmanager, alertmanager + "ui/"),
        ):
            code, body = _get(url + "-/ready")
            ready = "ready" if code == 200 else f"not ready ({body.strip() or code})"
            status.lines.append(f"  {name}: {page} {ready}")
            if code != 200:
                status.problems.append(f"{name} is not ready")
        if not any(p.startswith("Prometheus") for p in status.problems):
            _targets(prometheus, status)
            _alerts(prometheus, status)
        found.append(status)
    return found


def report(inv: Path) -> tuple[str, bool]:
    """What `keelson monitoring` prints, and whether nothing needs a look."""
    statuses = check(inv)
    return render(statuses), not any(s.problems for s in statuses)


def render(statuses: list[Status]) -> str:
    lines = []
    for status in statuses:
        verdict = "ok" if not status.problems else f"{len(status.problems)} problem(s)"
        lines.append(f"{status.host}: {verdict}")
        lines += status.lines
    return "\n".join(lines)
