"""Every molecule scenario waits for its freshly started hosts to finish booting before it runs
anything on them (CI once failed in etcd_backup's prepare, the one playbook that did not), and
every converge play runs the shared strategy."""

from pathlib import Path
from typing import Any

import pytest
import yaml

MOLECULE = Path(__file__).resolve().parents[2] / "molecule"
SCENARIOS = sorted(p for p in MOLECULE.iterdir() if (p / "molecule.yml").is_file())
WAIT = "../shared/tasks/wait-for-systemd.yml"


def _first_task(play: dict[str, Any]) -> dict[str, Any]:
    for section in ("pre_tasks", "roles", "tasks"):
        if play.get(section):
            return play[section][0] if section != "roles" else {"role": play[section][0]}
    return {}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_the_first_play_on_the_hosts_waits_for_systemd(scenario: Path) -> None:
    # molecule runs prepare.yml (when there is one) right after create, then converge.yml: the
    # first play of each that reaches a host (localhost is the controller) must wait.
    for name in ("prepare.yml", "converge.yml"):
        if not (scenario / name).is_file():
            continue
        plays = [
            p
            for p in yaml.safe_load((scenario / name).read_text())
            if p.get("hosts") != "localhost"
        ]
        assert plays, f"{scenario.name}/{name}: no play on the hosts"
        task = _first_task(plays[0])
        assert task.get("ansible.builtin.import_tasks") == WAIT, (
            f"{scenario.name}/{name}: play {plays[0].get('name')!r} starts with"
            f" {task.get('name') or task} instead of importing {WAIT}"
        )


STRATEGY = "../shared/vars/strategy.yml"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_every_converge_play_takes_the_shared_strategy(scenario: Path) -> None:
    """Plain Ansible for molecule's converge, mitogen's strategy once converged (idempotence,
    check and the tests' own converges): a play without it would run its idempotence and check
    on plain Ansible, about twice as slow, and never on mitogen's strategy as keelson does."""
    for play in yaml.safe_load((scenario / "converge.yml").read_text()):
        name = f"{scenario.name}/converge.yml: play {play.get('name')!r}"
        assert play.get("strategy") == "{{ molecule_strategy }}", name
        assert STRATEGY in play.get("vars_files", []), name


SHARED_CONFIG = MOLECULE.parent / ".config" / "molecule" / "config.yml"
# How a host container is made: keelson.lab.hosts.run_host owns it, for the lab and molecule.
RECIPE_FIELDS = {
    "capabilities", "security_opts", "tmpfs", "cgroupns_mode", "privileged", "volumes",
    "devices", "stop_signal", "command", "override_command", "pre_build_image",
}  # fmt: skip


def test_molecule_hosts_are_made_by_the_labs_recipe() -> None:
    """Molecule's create and destroy are keelson's (molecule/shared, keelson.lab.molecule), and
    no platform spells a part of the recipe the docker driver would apply instead."""
    config = yaml.safe_load(SHARED_CONFIG.read_text())
    playbooks = config["provisioner"]["playbooks"]
    assert playbooks == {"create": "../shared/create.yml", "destroy": "../shared/destroy.yml"}
    for name in playbooks.values():
        (task,) = yaml.safe_load((MOLECULE / "shared" / Path(name).name).read_text())[0]["tasks"]
        assert task["ansible.builtin.command"]["argv"][1:3] == ["-m", "keelson.lab.molecule"]
    platforms = list(config["platforms"])
    for scenario in SCENARIOS:
        platforms += yaml.safe_load((scenario / "molecule.yml").read_text()).get("platforms", [])
    assert len(platforms) >= 3
    for platform in platforms:
        assert RECIPE_FIELDS.isdisjoint(platform), (platform["name"], RECIPE_FIELDS & set(platform))
