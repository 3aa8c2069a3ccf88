"""Filters of the prometheus role: Prometheus scrape configurations from the inventory.

Each job names the hosts it scrapes (inventory names) and a port; every host becomes one
target at its address, labelled with its inventory name (`host`), so a scale-out adds its
node's targets on the next run and alerts name hosts as the inventory does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Keys of a job that are copied into its scrape configuration as they are.
_PASSED = (
    "scheme",
    "metrics_path",
    "tls_config",
    "authorization",
    "scrape_interval",
    "scrape_timeout",
    "params",
    "metric_relabel_configs",
)


class MonitoringFilterError(ValueError):
    pass


def keelson_monitoring_address(hostvars: Mapping[str, Any], name: str = "") -> str:
    """Where Prometheus reaches a host: its inventory's monitoring_address, else its default
    IPv4 address (from facts), else its ansible_host, else its name."""
    for value in (
        hostvars.get("monitoring_address"),
        ((hostvars.get("ansible_facts") or {}).get("default_ipv4") or {}).get("address"),
        hostvars.get("ansible_host"),
        hostvars.get("inventory_hostname") or name,
    ):
        if value:
            return str(value)
    raise MonitoringFilterError(f"{name or 'a host'} has no address to scrape")


def _target(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{int(port)}"


def keelson_monitoring_endpoints(
    hosts: Sequence[str], hostvars: Mapping[str, Mapping[str, Any]], port: int
) -> list[str]:
    """address:port of each host (IPv6 addresses in brackets): targets, peers, URLs."""
    return [_target(keelson_monitoring_address(hostvars[h], h), port) for h in hosts]


def keelson_scrape_configs(
    jobs: Sequence[Mapping[str, Any]], hostvars: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Prometheus scrape_configs: per job, one static target per host, labelled `host`.

    A job: `job` (its name), `hosts` (inventory names; duplicates and an empty list are
    fine: a job with no hosts is left out), `port`, and optionally any of _PASSED."""
    configs: list[dict[str, Any]] = []
    seen: set[str] = set()
    for job in jobs:
        name = str(job.get("job") or "")
        if not name:
            raise MonitoringFilterError(f"a scrape job has no name: {dict(job)}")
        if name in seen:
            raise MonitoringFilterError(f"scrape job {name} is listed twice")
        seen.add(name)
        if "port" not in job:
            raise MonitoringFilterError(f"scrape job {name} has no port")
        hosts = list(dict.fromkeys(str(h) for h in job.get("hosts") or []))
        if not hosts:
            continue
        unknown = [h for h in hosts if h not in hostvars]
        if unknown:
            raise MonitoringFilterError(f"scrape job {name}: no such host {', '.join(unknown)}")
        config: dict[str, Any] = {"job_name": name}
        config.update({key: job[key] for key in _PASSED if job.get(key) not in (None, "", {})})
        config["static_configs"] = [
            {
                "targets": keelson_monitoring_endpoints([h], hostvars, job["port"]),
                "labels": {"host": h},
            }
            for h in hosts
        ]
        configs.append(config)
    return configs


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_address": keelson_monitoring_address,
            "monitoring_endpoints": keelson_monitoring_endpoints,
            "scrape_configs": keelson_scrape_configs,
        }
