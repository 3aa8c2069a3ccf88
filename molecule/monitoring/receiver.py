#!/usr/bin/python3
"""Stand-in for a paging service: appends every Alertmanager webhook body it gets, one JSON
document per line, to a file the tests read. Usage: alert-receiver PORT FILE"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        document = json.loads(body)
        with open(sys.argv[2], "a", encoding="utf-8") as out:
            out.write(json.dumps(document, sort_keys=True) + "\n")
        self.send_response(200)
        self.end_headers()


ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
