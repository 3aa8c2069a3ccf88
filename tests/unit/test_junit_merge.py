"""scripts/junit-merge: the suite's two integration sessions give CI one report."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "junit-merge"


def report(path: Path, *tests: str, failed: str = "") -> Path:
    suite = ET.Element("testsuite", name="pytest", tests=str(len(tests)))
    for name in tests:
        case = ET.SubElement(suite, "testcase", classname="m", name=name)
        if name == failed:
            ET.SubElement(case, "failure", message="boom")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path)
    return path


def test_every_session_s_tests_and_failures_end_in_the_first_report(tmp_path: Path) -> None:
    ha = report(tmp_path / "integration.xml", "upgrade", "restore", failed="restore")
    main = report(tmp_path / "integration-main.xml", "deploy")
    missing = tmp_path / "never-started.xml"
    subprocess.run([sys.executable, SCRIPT, ha, main, missing], check=True)
    root = ET.parse(ha).getroot()
    assert root.tag == "testsuites"
    assert [c.get("name") for c in root.iter("testcase")] == ["upgrade", "restore", "deploy"]
    assert [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None] == [
        "restore"
    ]
