"""Unit tests of the etcd role's filters (plugins/filter/etcd.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from role_plugins import load_filter_plugin

plugin = load_filter_plugin("etcd")

H1, H2, H3 = "https://10.0.0.1:2379", "https://10.0.0.2:2379", "https://10.0.0.3:2379"
MEMBERS = {H1: "node1", H2: "node2", H3: "node3"}


def _health(*entries: tuple[str, bool]) -> str:
    return json.dumps(
        [
            {"endpoint": url, "health": ok, "took": "1ms"}
            | ({} if ok else {"error": "context deadline exceeded"})
            for url, ok in entries
        ]
    )


def test_subject_alt_names_classify_and_deduplicate() -> None:
    names = ["node1", "Node1", "10.0.0.1", "", None, "10.0.0.1", "fe80:0:0::1", "IP:127.0.0.1"]
    assert plugin.subject_alt_names(names) == [
        "DNS:node1",
        "IP:10.0.0.1",
        "IP:fe80::1",
        "IP:127.0.0.1",
    ]


def test_subject_alt_names_keep_prefixed_entries() -> None:
    assert plugin.subject_alt_names(["DNS:etcd.example", "lb.example"]) == [
        "DNS:etcd.example",
        "DNS:lb.example",
    ]


def test_healthy_cluster_has_no_problems() -> None:
    stdout = _health((H1, True), (H2, True), (H3, True))
    assert plugin.health_problems(stdout, "", MEMBERS) == []


def test_unhealthy_member_is_named_with_its_error() -> None:
    stdout = _health((H1, True), (H2, True), (H3, False))
    assert plugin.health_problems(stdout, "Error: unhealthy cluster", MEMBERS) == [
        f"node3 ({H3}): context deadline exceeded"
    ]


def test_expected_member_missing_from_the_member_list() -> None:
    stdout = _health((H1, True), (H2, True))
    assert plugin.health_problems(stdout, "", MEMBERS) == [
        f"node3 ({H3}): not in the cluster's member list"
    ]


def test_other_endpoints_are_named_from_the_inventory() -> None:
    stdout = _health((H1, True), (H3, False), ("https://10.0.0.9:2379", False))
    problems = plugin.health_problems(stdout, "", {H1: "node1"}, MEMBERS)
    assert problems == [
        "a member outside the etcd group (https://10.0.0.9:2379): context deadline exceeded",
        f"node3 ({H3}): context deadline exceeded",
    ]


def test_no_answer_reports_etcdctl_error() -> None:
    stderr = '{"level":"warn"}\nError: context deadline exceeded\n'
    assert plugin.health_problems("", stderr, MEMBERS) == [
        "no member answered etcdctl (Error: context deadline exceeded)"
    ]
    assert plugin.health_problems("not json", "", MEMBERS) == [
        "no member answered etcdctl (no output)"
    ]


PEER = {
    "name": "peer",
    "common_name": "node1",
    "extended_key_usage": ["serverAuth", "clientAuth"],
    "subject_alt_name": ["IP:10.0.0.1", "DNS:node1"],
}
ADMIN = {
    "name": "admin",
    "common_name": "etcd-admin@node1",
    "extended_key_usage": ["clientAuth"],
    "subject_alt_name": [],
}


def info_of(cert: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An x509_certificate_info result that matches CERT, the key "k1" and the CA "ca1"."""
    usage = {
        "serverAuth": "TLS Web Server Authentication",
        "clientAuth": "TLS Web Client Authentication",
    }
    return {
        "subject": {"commonName": cert["common_name"]},
        "subject_alt_name": list(reversed(cert["subject_alt_name"])) or None,
        "extended_key_usage": [usage[u] for u in cert["extended_key_usage"]],
        "authority_key_identifier": "ca1",
        "public_key_fingerprints": {"sha256": "k1"},
        "valid_at": {"renewal": True},
        "not_after": "20270101000000Z",
        **changes,
    }


KEY = {"fingerprint": {"sha256": "k1"}}


def test_matching_certificates_are_kept_and_a_missing_one_is_issued() -> None:
    reasons = plugin.certificate_reasons(
        [PEER, ADMIN], [KEY, KEY], [info_of(PEER), {"skipped": True}], "ca1"
    )
    assert reasons == {"peer": [], "admin": ["missing"]}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"valid_at": {"renewal": False}}, "expires 20270101000000Z, within etcd_cert_renew_days"),
        ({"subject_alt_name": ["DNS:node1"]}, "names changed"),
        ({"subject": {"commonName": "other"}}, "common name changed"),
        ({"extended_key_usage": ["TLS Web Client Authentication"]}, "key usage changed"),
        ({"authority_key_identifier": "another-ca"}, "not signed by the cluster CA"),
        ({"public_key_fingerprints": {"sha256": "k2"}}, "does not match the private key"),
    ],
)
def test_each_mismatch_is_a_reason_to_issue(change: dict[str, Any], reason: str) -> None:
    reasons = plugin.certificate_reasons([PEER], [KEY], [info_of(PEER, **change)], "ca1")
    assert reasons == {"peer": [reason]}
