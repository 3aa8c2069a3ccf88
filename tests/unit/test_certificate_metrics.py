"""The node_exporter role's keelson-certificate-metrics, run here with the collection's certificate
reader (module_utils/certificates.py, installed beside it on hosts) and this machine's openssl:
the textfile it writes, a bundle holding one subject twice, a certificate openssl cannot read."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from role_plugins import ROOT, load_plugin

EXPIRY = "keelson_certificate_expiry_timestamp_seconds"
QUOTED = r"CN=a \\\"quoted\\\" name"


def program() -> ModuleType:
    sys.modules["keelson_certificates"] = load_plugin(
        ROOT / "plugins" / "module_utils" / "certificates.py"
    )
    path = ROOT / "roles" / "node_exporter" / "files" / "keelson-certificate-metrics"
    loader = importlib.machinery.SourceFileLoader("keelson_certificate_metrics", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    loaded = importlib.util.module_from_spec(spec)
    loader.exec_module(loaded)
    return loaded


def certificate(directory: Path, name: str, subject: str, days: int) -> Path:
    path = directory / f"{name}.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", str(days), "-subj", subject),
            *("-keyout", str(directory / f"{name}.key"), "-out", str(path)),
        ],
        check=True,
        capture_output=True,
    )
    return path


def run(tmp_path: Path, paths: list[str]) -> int:
    config = tmp_path / "config.json"
    output = tmp_path / "out" / "keelson_certificates.prom"
    output.parent.mkdir(exist_ok=True)
    config.write_text(json.dumps({"paths": paths, "kubeconfigs": [], "output": str(output)}))
    code: int = program().main(["keelson-certificate-metrics", str(config)])
    return code


def series(tmp_path: Path) -> dict[str, float]:
    text = (tmp_path / "out" / "keelson_certificates.prom").read_text()
    return {
        labels: float(value)
        for labels, value in (
            line.removeprefix(EXPIRY).rsplit(" ", 1)
            for line in text.splitlines()
            if line.startswith(EXPIRY + "{")
        )
    }


def test_one_series_per_certificate_the_earliest_of_a_repeated_subject(tmp_path: Path) -> None:
    short = certificate(tmp_path, "short", '/CN=a "quoted" name', 2)
    long = certificate(tmp_path, "long", '/CN=a "quoted" name', 40)
    other = certificate(tmp_path, "other", "/CN=other", 10)
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(long.read_text() + short.read_text())
    assert run(tmp_path, [str(bundle), str(tmp_path / "other.crt")]) == 0
    found = series(tmp_path)
    loaded = program()
    reader = sys.modules["keelson_certificates"]
    expiry = {
        p.name: reader.describe(p.read_text(), loaded.openssl)["not_after"]
        for p in (short, long, other)
    }
    assert found == {
        # openssl's RFC 2253 escapes the quotes; the exposition format escapes both again.
        f'{{path="{bundle}",what="file",subject="{QUOTED}"}}': expiry["short.crt"],
        f'{{path="{other}",what="file",subject="CN=other"}}': expiry["other.crt"],
    }
    assert expiry["short.crt"] < expiry["other.crt"] < expiry["long.crt"]
    written = tmp_path / "out" / "keelson_certificates.prom"
    assert written.stat().st_mode & 0o777 == 0o644
    assert "keelson_certificate_metrics_last_run_timestamp_seconds " in written.read_text()


def test_a_certificate_openssl_cannot_read_fails_and_keeps_the_last_file(tmp_path: Path) -> None:
    good = certificate(tmp_path, "good", "/CN=good", 5)
    assert run(tmp_path, [str(good)]) == 0
    before = (tmp_path / "out" / "keelson_certificates.prom").read_text()
    broken = tmp_path / "broken.crt"
    broken.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    assert run(tmp_path, [str(good), str(broken)]) == 1
    assert (tmp_path / "out" / "keelson_certificates.prom").read_text() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keelson_certificates.prom"]
