"""A stand-in for kube-apiserver on host1:6443 (no API server can run in this scenario): TLS with
a self-signed certificate, /readyz answering 200 while /etc/fake-apiserver/ready exists and 500
otherwise (a server that accepts connections but is not ready), and /hostname with the host's
name, so requests through the node-local load balancer show where they went."""

import http.server
import ssl
import sys
from pathlib import Path

STATE = Path("/etc/fake-apiserver")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/readyz":
            ready = (STATE / "ready").exists()
            status, body = (200, b"ok") if ready else (500, b"[-]etcd failed: not ready")
        elif self.path == "/hostname":
            status, body = 200, Path("/etc/hostname").read_bytes().strip()
        else:
            status, body = 404, b"not found"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(STATE / "tls.crt", STATE / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
