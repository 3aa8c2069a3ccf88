from role_plugins import load_filter_plugin

plugin = load_filter_plugin("bundle")

ETCD = {
    "name": "etcd-v3.6.16",
    "path": "etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz",
    "links": {"/usr/local/bin/etcd": "etcd-v3.6.16-linux-amd64/etcd"},
}
KUBELET = {
    "name": "kubelet-v1.36.3",
    "path": "release/v1.36.3/bin/linux/amd64/kubelet",
    "unpack": False,
    "sha256": "b" * 64,
    "links": {"/usr/local/bin/kubelet": ""},
}


def test_plan_takes_the_manifest_sha256_and_links_into_the_unpacked_directory() -> None:
    [etcd] = plugin.bundle_plan(
        [ETCD], "http://mirror:18080/", {ETCD["path"]: "a" * 64}, "/var/cache/b", "/opt/k"
    )
    assert etcd["url"] == f"http://mirror:18080/{ETCD['path']}"
    assert etcd["sha256"] == "a" * 64
    assert etcd["cached_file"] == "/var/cache/b/etcd-v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz"
    assert etcd["link_list"] == [
        {
            "key": "/usr/local/bin/etcd",
            "value": "/opt/k/etcd-v3.6.16/etcd-v3.6.16-linux-amd64/etcd",
        }
    ]


def test_a_plain_file_is_its_own_link_target_and_a_given_sha256_wins() -> None:
    [kubelet] = plugin.bundle_plan(
        [KUBELET], "http://m", {KUBELET["path"]: "c" * 64}, "/var/cache/b", "/opt/k"
    )
    assert kubelet["sha256"] == "b" * 64
    assert kubelet["link_list"] == [
        {"key": "/usr/local/bin/kubelet", "value": "/var/cache/b/kubelet-v1.36.3/kubelet"}
    ]


def test_an_artifact_missing_from_the_manifest_is_a_problem() -> None:
    [etcd] = plugin.bundle_plan([ETCD], "http://m", {}, "/c", "/o")
    assert etcd["sha256"] == ""
    assert etcd["problem"].startswith(f"{ETCD['path']} is not in the bundle's manifest")


def test_a_described_artifact_has_no_problem_and_a_malformed_one_does() -> None:
    [good, nameless, linkless] = plugin.bundle_plan(
        [KUBELET, {"path": "x/y.tgz", "links": {"/a": "b"}}, {**ETCD, "links": {}}],
        "http://m",
        {ETCD["path"]: "a" * 64, "x/y.tgz": "a" * 64},
        "/c",
        "/o",
    )
    assert good["problem"] == ""
    assert "artifact x/y.tgz needs a name" in nameless["problem"]
    assert "etcd-v3.6.16 needs a name" in linkless["problem"]
