"""The preflight gathers only the facts keelson reads (roles/preflight/vars/main.yml): every fact
a role, template or playbook reads must be on that list, or it would be undefined at run time."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
GATHERED = ROOT / "roles" / "preflight" / "vars" / "main.yml"
# ansible_facts['name'], ansible_facts["name"], ansible_facts.name,
# hostvars[h]['ansible_facts']['name']
READ = re.compile(r"""ansible_facts['"]?\]?(?:\[\s*['"]([a-z0-9_]+)['"]\s*\]|\.([a-z0-9_]+))""")


def facts_read() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in [*ROOT.glob("roles/**/*"), *ROOT.glob("playbooks/**/*")]:
        if path.suffix not in (".yml", ".j2") or not path.is_file():
            continue
        for match in READ.finditer(path.read_text()):
            name = match.group(1) or match.group(2)
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_pattern_finds_each_way_a_fact_is_read() -> None:
    text = (
        "a: \"{{ ansible_facts['kernel'] }}\" b: {{ ansible_facts.os_family }} "
        "c: hostvars[h]['ansible_facts']['default_ipv4']['address'] d: ansible_facts[\"fqdn\"]"
    )
    names = {m.group(1) or m.group(2) for m in READ.finditer(text)}
    assert names == {"kernel", "os_family", "default_ipv4", "fqdn"}


def test_every_fact_read_is_gathered() -> None:
    gathered = {
        name.removeprefix("ansible_")
        for name in yaml.safe_load(GATHERED.read_text())["_preflight_facts"]
    }
    read = facts_read()
    assert read, "no fact read anywhere: the pattern is broken"
    missing = {name: sorted(paths) for name, paths in read.items() if name not in gathered}
    assert not missing, f"facts read but not gathered by the preflight: {missing}"
