"""Verify the prometheus and alertmanager roles on the scenario's hosts (molecule.yml): host1
runs both, every host runs node_exporter, host3 runs a stand-in webhook receiver."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from scenario_helpers import (
    SANDBOX,
    assert_runs_unprivileged,
    main_pid,
    molecule_host,
    molecule_inventory,
    run_playbook,
)

MONITOR = "monitoring-host1"
RECEIVER = "monitoring-host3"
HOSTS = ("monitoring-host1", "monitoring-host2", "monitoring-host3")
SCENARIO = Path(__file__).resolve().parents[1]
RULES = SCENARIO.parents[1] / "roles" / "prometheus" / "files" / "rules"
RULE_TESTS = SCENARIO / "rule_tests"
UNITS = {"prometheus": "prometheus", "prometheus-alertmanager": "alertmanager"}


@pytest.fixture(scope="module")
def monitor() -> Any:
    return molecule_host(MONITOR)


def api(monitor: Any, path: str, port: int = 9090) -> Any:
    out = monitor.check_output(f"curl -sf http://127.0.0.1:{port}{path}")
    return json.loads(out)


def wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"{what}: not within {timeout} s"
            return value
        time.sleep(2)


def targets(monitor: Any) -> dict[tuple[str, str], str]:
    """(job, host) -> health of every active target."""
    active = api(monitor, "/api/v1/targets?state=active")["data"]["activeTargets"]
    return {(t["labels"]["job"], t["labels"]["host"]): t["health"] for t in active}


@pytest.mark.parametrize("unit,user", UNITS.items())
def test_services_run_sandboxed_as_their_users(monitor: Any, unit: str, user: str) -> None:
    service = monitor.service(unit)
    assert service.is_running and service.is_enabled
    assert_runs_unprivileged(monitor, unit, user)
    for name, value in SANDBOX.items():
        assert monitor.check_output(f"systemctl show --property {name} --value {unit}") == value


# "Completed loading of configuration file" lines of one start: Alertmanager logs reloads only.
@pytest.mark.parametrize("unit,loads", {"prometheus": 1, "prometheus-alertmanager": 0}.items())
def test_the_first_start_reads_its_configuration_once_and_no_reload_cuts_it_short(
    monitor: Any, unit: str, loads: int
) -> None:
    """The first converge starts the service (a new unit) with a reload pending (a new
    configuration). The started process reads the configuration already; a SIGHUP in its first
    moments kills it instead, and systemd leaves it stopped (a deploy of CI's stop 32 waited two
    minutes for a Prometheus that was not there). The journal is the first converge's: the tests
    that converge again come later in this module."""
    journal = monitor.check_output(f"journalctl --unit {unit} --no-pager --output cat")
    assert "status=1/HUP" not in journal, journal
    assert journal.count("Completed loading of configuration file") == loads, journal


def test_binaries_come_from_the_bundle(monitor: Any) -> None:
    version = monitor.check_output("/usr/local/bin/prometheus --version")
    assert "prometheus, version 3." in version, version
    assert monitor.run("/usr/local/bin/promtool --version").rc == 0
    alertmanager = monitor.check_output("/usr/local/bin/alertmanager --version")
    assert "alertmanager, version 0." in alertmanager, alertmanager


def test_every_host_and_job_is_scraped_and_up(monitor: Any) -> None:
    expected = {("node", h) for h in HOSTS} | {("prometheus", MONITOR), ("alertmanager", MONITOR)}

    def all_up() -> bool:
        found = targets(monitor)
        return set(found) == expected and set(found.values()) == {"up"}

    wait_for(f"every target up ({sorted(expected)})", all_up)


def test_the_role_rules_are_loaded(monitor: Any) -> None:
    groups = api(monitor, "/api/v1/rules")["data"]["groups"]
    files = {Path(g["file"]).name for g in groups}
    assert files == {p.name for p in RULES.glob("*.rules.yml")}
    assert sum(len(g["rules"]) for g in groups) >= 30


def test_the_rules_pass_their_unit_tests(monitor: Any) -> None:
    """promtool test rules on the host, against the rules the role installed."""
    monitor.run_expect([0], "rm -rf /tmp/rule-tests && mkdir -p /tmp/rule-tests/rule_tests")
    monitor.run_expect([0], "ln -s /etc/prometheus/rules /tmp/rule-tests/rules")
    for test in sorted(RULE_TESTS.glob("*.test.yml")):
        path = f"/tmp/rule-tests/rule_tests/{test.name}"
        monitor.run_expect([0], f"cat > {path} <<'EOF'\n{test.read_text()}EOF")
    result = monitor.run("cd /tmp/rule-tests && promtool test rules rule_tests/*.test.yml")
    assert result.rc == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_web_ui_is_built_in(monitor: Any) -> None:
    page = monitor.check_output("curl -sfL http://127.0.0.1:9090/query")
    assert "<title>Prometheus" in page or 'id="root"' in page, page[:500]
    ui = monitor.check_output("curl -sfL http://127.0.0.1:9093/ui/")
    assert "<html" in ui.lower(), ui[:500]


def test_the_watchdog_reaches_the_receiver_through_alertmanager() -> None:
    """Prometheus -> Alertmanager -> the webhook on host3: an alert delivered, not only firing."""
    receiver = molecule_host(RECEIVER)

    def delivered() -> bool:
        lines = receiver.run("cat /run/alerts.jsonl").stdout.splitlines()
        return any(
            a["labels"]["alertname"] == "Watchdog" and a["status"] == "firing"
            for line in lines
            for a in json.loads(line)["alerts"]
        )

    wait_for("the Watchdog alert at the receiver", delivered, timeout=120)


def test_a_stopped_exporter_shows_down(monitor: Any) -> None:
    third = molecule_host(HOSTS[2])
    third.run_expect([0], "systemctl stop prometheus-node-exporter")
    try:
        wait_for("node on host3 down", lambda: targets(monitor)[("node", HOSTS[2])] == "down")
    finally:
        third.run_expect([0], "systemctl start prometheus-node-exporter")
    wait_for("node on host3 up again", lambda: targets(monitor)[("node", HOSTS[2])] == "up")


# Last: the test below converges again with other settings.
RULE = "groups:\n  - name: {name}\n    rules:\n      - alert: {alert}\n        expr: {expr}\n"


def converge(*extra: str) -> Any:
    return run_playbook(
        ["-i", molecule_inventory(), str(SCENARIO / "converge.yml"), "--limit", MONITOR, *extra],
        dict(os.environ),
    )


@pytest.mark.parametrize(
    "settings,problems",
    [
        (
            {"prometheus_retention_time": "15 days", "prometheus_version": "v2.53.0"},
            [
                "prometheus_retention_time '15 days' is not a Prometheus duration",
                "prometheus_version 'v2.53.0' is not a Prometheus 3 release",
            ],
        ),
        (
            {"alertmanager_route": {"receiver": "pager"}},
            ["alertmanager_route's receiver 'pager' is none of alertmanager_receivers (default"],
        ),
    ],
    ids=["prometheus", "alertmanager"],
)
def test_bad_settings_are_refused_before_any_change(
    monitor: Any, settings: dict[str, Any], problems: list[str]
) -> None:
    """Every problem of a role named in one message, with its fix; nothing on the host changed."""
    configs = {
        f: monitor.file(f).content_string
        for f in ("/etc/prometheus/prometheus.yml", "/etc/alertmanager/alertmanager.yml")
    }
    pids = {unit: main_pid(monitor, unit) for unit in UNITS}
    refused = converge("-e", json.dumps(settings))
    assert refused.rc != 0, refused
    for problem in problems:
        assert problem in " ".join(refused.text.split()), refused.text[-3000:]
    assert {f: monitor.file(f).content_string for f in configs} == configs
    assert {unit: main_pid(monitor, unit) for unit in UNITS} == pids


def test_a_broken_rule_file_is_refused_and_a_change_reloads_without_restart(
    monitor: Any, tmp_path: Path
) -> None:
    config = monitor.file("/etc/prometheus/prometheus.yml").content_string
    pid = main_pid(monitor, "prometheus")
    broken = tmp_path / "broken.rules.yml"
    broken.write_text(RULE.format(name="broken", alert="Broken", expr="up =="))
    refused = converge("-e", json.dumps({"prometheus_extra_rule_files": [str(broken)]}))
    assert refused.rc != 0, refused
    assert "check rules" in refused.text or "broken.rules.yml" in refused.text, refused
    assert not monitor.file("/etc/prometheus/rules/broken.rules.yml").exists
    assert monitor.file("/etc/prometheus/prometheus.yml").content_string == config
    assert main_pid(monitor, "prometheus") == pid

    good = tmp_path / "site.rules.yml"
    good.write_text(RULE.format(name="site", alert="SiteTest", expr="vector(0) > 1"))
    changed = converge("-e", json.dumps({"prometheus_extra_rule_files": [str(good)]}))
    assert changed.rc == 0, changed
    wait_for(
        "the site's rule loaded",
        lambda: "site" in {g["name"] for g in api(monitor, "/api/v1/rules")["data"]["groups"]},
    )
    # Reloaded, not restarted.
    assert main_pid(monitor, "prometheus") == pid

    back = converge()
    assert back.rc == 0, back
    assert not monitor.file("/etc/prometheus/rules/site.rules.yml").exists
    assert main_pid(monitor, "prometheus") == pid
