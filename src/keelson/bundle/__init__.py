"""The offline bundle: every binary a cluster needs, pinned by versions.yml, laid out under one
root like the upstream download sites, with a sha256 manifest; served to nodes as a files mirror.

Two sources fill it behind one interface: `source` builds through the Go module proxy (the
default: the only way on machines without internet), `release` downloads official artifacts
(or a mirror's) and checks their published checksums. Each component version is built once:
its manifest entry carries a cache key, and a build whose key and files are in place is skipped.
"""

from keelson.bundle.builds import (
    SOURCES,
    Result,
    Row,
    VersionCheck,
    artifacts_of,
    build,
    check_versions,
    list_builds,
    render_list,
    verify,
)
from keelson.bundle.serve import make_server

__all__ = [
    "SOURCES",
    "Result",
    "Row",
    "VersionCheck",
    "artifacts_of",
    "build",
    "check_versions",
    "list_builds",
    "make_server",
    "render_list",
    "verify",
]
