"""Every alert the prometheus role ships is documented for on-call: its runbook_url points at its
own line of docs/monitoring.md, and that line exists."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "roles" / "prometheus" / "files" / "rules").glob("*.rules.yml"))
DOC = ROOT / "docs" / "monitoring.md"
BASE = "https://github.com/keelson/keelson/blob/main/docs/monitoring.md#"


def alerts() -> list[dict]:
    found = []
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [r for r in group["rules"] if "alert" in r]
    return found


def test_the_role_ships_rules() -> None:
    assert len(RULES) >= 7 and len(alerts()) >= 50


@pytest.mark.parametrize("rule", alerts(), ids=lambda r: r["alert"])
def test_each_alert_links_its_line_in_the_docs(rule: dict) -> None:
    name = rule["alert"]
    assert rule["labels"].get("severity"), f"{name}: no severity"
    assert rule["annotations"].get("summary") and rule["annotations"].get("description")
    assert rule["annotations"]["runbook_url"] == BASE + name.lower()
    anchors = set(re.findall(r'<a id="([a-z0-9]+)"></a>([A-Za-z0-9]+)', DOC.read_text()))
    assert (name.lower(), name) in anchors, f"docs/monitoring.md has no line for {name}"
