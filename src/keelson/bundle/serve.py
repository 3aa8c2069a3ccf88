"""The bundle root served over HTTP: the files mirror of the lab (and of `keelson bundle serve`)."""

import http.server
import os
from functools import partial
from pathlib import Path
from typing import Any

from keelson.bundle import store
from keelson.errors import BundleError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("KEELSON_BUNDLE_SERVE_LOG"):
            super().log_message(format, *args)


def make_server(root: Path, bind: str, port: int) -> http.server.ThreadingHTTPServer:
    if not (root / store.MANIFEST).is_file():
        raise BundleError(f"no {store.MANIFEST} in {root}: run `keelson bundle build` first")
    handler = partial(_QuietHandler, directory=str(root))
    try:
        return http.server.ThreadingHTTPServer((bind, port), handler)
    except OSError as exc:
        raise BundleError(f"cannot serve on {bind}:{port}: {exc}") from exc
