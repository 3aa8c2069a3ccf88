"""`keelson monitoring` against stand-ins for Prometheus's and Alertmanager's HTTP APIs (the
real ones are tested on the main job's lab: tests/integration/test_main_job.py)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from keelson import monitoring
from keelson.errors import InventoryError

TARGETS = {
    "status": "success",
    "data": {
        "activeTargets": [
            {
                "labels": {"job": "node", "host": "m1"},
                "scrapeUrl": "http://127.0.0.1:9100/metrics",
                "health": "up",
            },
            {
                "labels": {"job": "node", "host": "w1"},
                "scrapeUrl": "http://10.0.0.2:9100/metrics",
                "health": "down",
                "lastError": "connection refused",
            },
        ]
    },
}
ALERTS = {
    "status": "success",
    "data": {
        "alerts": [
            {"labels": {"alertname": "Watchdog"}, "state": "firing"},
            {"labels": {"alertname": "NodeExporterDown", "host": "w1"}, "state": "firing"},
            {"labels": {"alertname": "TargetDown"}, "state": "pending"},
        ]
    },
}


class StandInPrometheus(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        pages = {
            "/-/ready": "Prometheus Server is Ready.\n",
            "/api/v1/targets?state=active": json.dumps(TARGETS),
            "/api/v1/alerts": json.dumps(ALERTS),
        }
        body = pages.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write((body or "not found").encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in_prometheus() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInPrometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_inventory(tmp_path: Path, prometheus: int, alertmanager: int) -> Path:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n"
        "  hosts:\n"
        "    m1: {ansible_host: 127.0.0.1}\n"
        "    w1: {ansible_host: 10.0.0.2}\n"
        "  children:\n"
        "    monitoring:\n"
        "      hosts: {m1: {}}\n"
        "  vars:\n"
        f"    prometheus_web_listen_address: '0.0.0.0:{prometheus}'\n"
        f"    alertmanager_web_listen_address: '0.0.0.0:{alertmanager}'\n"
    )
    return inv


def test_names_the_urls_targets_down_and_alerts_firing_from_a_stand_in(
    tmp_path: Path, stand_in_prometheus: int
) -> None:
    # The stand-in answers for Prometheus; nothing listens where Alertmanager should.
    silent = free_port()
    inv = write_inventory(tmp_path, stand_in_prometheus, silent)
    (status,) = monitoring.check(inv)
    text = monitoring.render([status])
    assert f"Prometheus: http://127.0.0.1:{stand_in_prometheus}/ ready" in text
    assert f"Alertmanager: http://127.0.0.1:{silent}/ui/ not ready" in text
    assert "targets: 1 up, 1 down" in text
    assert "down: node on w1: connection refused" in text
    assert "alerts firing: NodeExporterDown, Watchdog" in text
    # The heartbeat and pending alerts are no problem; the rest are.
    assert status.problems == [
        "Alertmanager is not ready",
        "node on w1 is down",
        "alert NodeExporterDown is firing",
    ]


def test_an_inventory_without_monitoring_hosts_is_refused(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text("all:\n  hosts:\n    m1: {ansible_host: 127.0.0.1}\n")
    with pytest.raises(InventoryError, match="the monitoring group holds no host"):
        monitoring.check(inv)
