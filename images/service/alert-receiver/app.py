"""alert-receiver: a stand-in for a site's paging service, for the lab and the tests. It keeps
every Alertmanager webhook body it gets (POST, any path) and gives them back: GET /alerts answers
a JSON list of them, oldest first; with $ALERTS_FILE set it also appends each, one JSON document
per line. GET /healthz answers ok. Port $PORT (8080)."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED: list[object] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            document = json.loads(body)
        except ValueError:
            self._answer(400, {"error": "the body is not JSON"})
            return
        with LOCK:
            RECEIVED.append(document)
            path = os.environ.get("ALERTS_FILE")
            if path:
                with open(path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(document, sort_keys=True) + "\n")
        self._answer(200, {"status": "received"})

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/alerts":
            with LOCK:
                self._answer(200, list(RECEIVED))
        else:
            self._answer(404, {"error": f"no such path: {self.path}"})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    print(f"alert-receiver: listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
