"""Where keelson finds its playbooks and keeps its state: a checkout, or the collection
keelson.platform installed by ansible-galaxy (with keelson installed as a package)."""

from pathlib import Path

import pytest

from keelson import paths
from keelson.errors import UsageError


def make_project(root: Path, *, installed: bool) -> Path:
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "site.yml").write_text("---\n")
    (root / "roles").mkdir()
    (root / ("MANIFEST.json" if installed else "galaxy.yml")).write_text("{}\n")
    return root


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd outside any checkout, keelson installed as a package (no source tree), no settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(paths, "_source_tree", lambda: tmp_path / "site-packages")
    for name in ("KEELSON_ROOT", "KEELSON_STATE", "ANSIBLE_COLLECTIONS_PATH", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_installed_collection_is_found_in_ansibles_collections_path(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = outside / "first" / "ansible_collections" / "keelson" / "platform"
    second = make_project(
        outside / "second" / "ansible_collections" / "keelson" / "platform", installed=True
    )
    first.mkdir(parents=True)  # not a collection: no playbooks
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", f"{outside / 'first'}:{outside / 'second'}")
    assert paths.project_root() == second
    assert paths.state_dir() == outside / "home" / ".local" / "state" / "keelson"
    with pytest.raises(UsageError, match="the lab comes with a keelson checkout"):
        paths.checkout_root("the lab")


def test_the_default_collections_path_is_ansibles(outside: Path) -> None:
    home = outside / "home" / ".ansible" / "collections" / "ansible_collections" / "keelson"
    collection = make_project(home / "platform", installed=True)
    assert paths.project_root() == collection


def test_a_checkout_around_cwd_comes_first_and_keeps_its_state_inside(
    outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(
        outside
        / "home"
        / ".ansible"
        / "collections"
        / "ansible_collections"
        / "keelson"
        / "platform",
        installed=True,
    )
    checkout = make_project(outside / "checkout", installed=False)
    (checkout / "docs").mkdir()
    monkeypatch.chdir(checkout / "docs")
    assert paths.project_root() == checkout
    assert paths.state_dir() == checkout / ".keelson"
    assert paths.checkout_root("the lab") == checkout


def test_nothing_found_names_every_way_out(outside: Path) -> None:
    with pytest.raises(UsageError, match=r"install the collection keelson\.platform"):
        paths.project_root()
