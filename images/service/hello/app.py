"""hello: a sample keelson service. GET / greets, GET /healthz answers ok; port $PORT (8080)."""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/":
            self._answer(200, {"message": "hello from keelson", "host": socket.gethostname()})
        else:
            self._answer(404, {"error": f"no such path: {self.path}"})

    def _answer(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    print(f"hello: listening on :{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
