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


def keelson_pod_proxy_scrape_configs(
    jobs: Sequence[Mapping[str, Any]],
    api_server: str,
    tls_config: Mapping[str, Any],
    authorization: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Prometheus scrape_configs for pods found through the API and scraped through the API
    server's pod proxy (a monitoring host outside the cluster does not reach pod addresses).

    A job: `job`, `namespace`, `selector` (a label selector), `port` (the name of the pod's
    container port), and optionally `honor_labels` (keep the labels the pod's metrics carry, as
    kube-state-metrics' namespace and pod must stay) and `pod_label` (label each target with its
    pod's name). Every target carries `host`: the node its pod runs on. API_SERVER is host:port."""
    configs: list[dict[str, Any]] = []
    for job in jobs:
        missing = [k for k in ("job", "namespace", "selector", "port") if not job.get(k)]
        if missing:
            raise MonitoringFilterError(f"a pod proxy job lacks {', '.join(missing)}: {dict(job)}")
        relabel: list[dict[str, Any]] = [
            {
                "source_labels": [
                    "__meta_kubernetes_pod_container_port_name",
                    "__meta_kubernetes_pod_phase",
                ],
                "regex": f"{job['port']};Running",
                "action": "keep",
            },
            {
                "source_labels": [
                    "__meta_kubernetes_pod_name",
                    "__meta_kubernetes_pod_container_port_number",
                ],
                "regex": "(.+);(.+)",
                "target_label": "__metrics_path__",
                "replacement": (
                    f"/api/v1/namespaces/{job['namespace']}/pods/${{1}}:${{2}}/proxy/metrics"
                ),
            },
            {"target_label": "__address__", "replacement": api_server},
        ]
        if job.get("pod_label"):
            relabel.append({"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"})
        relabel.append(
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "host"}
        )
        config: dict[str, Any] = {"job_name": str(job["job"])}
        if job.get("honor_labels"):
            config["honor_labels"] = True
        config.update(
            {
                "scheme": "https",
                "tls_config": dict(tls_config),
                "authorization": dict(authorization),
                "kubernetes_sd_configs": [
                    {
                        "role": "pod",
                        "api_server": f"https://{api_server}",
                        "tls_config": dict(tls_config),
                        "authorization": dict(authorization),
                        "namespaces": {"names": [job["namespace"]]},
                        "selectors": [{"role": "pod", "label": job["selector"]}],
                    }
                ],
                "relabel_configs": relabel,
            }
        )
        configs.append(config)
    return configs


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_address": keelson_monitoring_address,
            "monitoring_endpoints": keelson_monitoring_endpoints,
            "scrape_configs": keelson_scrape_configs,
            "pod_proxy_scrape_configs": keelson_pod_proxy_scrape_configs,
        }
