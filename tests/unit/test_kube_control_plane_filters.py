"""The kube_control_plane role's filters (plugins/filter/kube_control_plane.py)."""

from role_plugins import load_filter_plugin

keys = load_filter_plugin("kube_control_plane").encryption_keys


def config(*providers: dict[str, object], resources: list[str] | None = None) -> dict[str, object]:
    return {
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": resources or ["secrets"], "providers": list(providers)}],
    }


def test_the_first_key_listed_is_the_one_new_secrets_are_written_with() -> None:
    secretbox = {
        "secretbox": {"keys": [{"name": "new", "secret": "N"}, {"name": "old", "secret": "O"}]}
    }
    aescbc = {"aescbc": {"keys": [{"name": "older", "secret": "C"}]}}
    assert keys(config(secretbox, aescbc, {"identity": {}})) == ["N", "O", "C"]


def test_identity_only_or_other_resources_hold_no_key() -> None:
    assert keys(config({"identity": {}})) == []
    assert keys(config({"secretbox": {"keys": [{"secret": "X"}]}}, resources=["configmaps"])) == []


def test_what_is_not_a_configuration_holds_no_key() -> None:
    assert keys(None) == []
    assert keys("") == []
    assert keys({"resources": None}) == []
