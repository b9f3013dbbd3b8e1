"""A local FTP (or FTPS) server for the demo and the tests: pyftpdlib on 127.0.0.1.

    python scripts/ftp_server.py --root DIR --port 2121 --user moodle --password secret [--cert cert.pem]

The tests start the same server in a thread (:func:`start_in_thread`).
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def make_server(root: Path, user: str, password: str, port: int = 0, cert: Path | None = None) -> FTPServer:
    """An FTP server on 127.0.0.1 (``port`` 0 picks a free one), FTPS when ``cert`` is given."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(user, password, str(root), perm="elradfmwMT")
    if cert is not None:
        from pyftpdlib.handlers import TLS_FTPHandler

        handler = type("Handler", (TLS_FTPHandler,), {})
        handler.certfile = str(cert)
        handler.tls_control_required = True
        handler.tls_data_required = True
    else:
        handler = type("Handler", (FTPHandler,), {})
    handler.authorizer = authorizer
    handler.passive_ports = None
    server = FTPServer(("127.0.0.1", port), handler)
    return server


def start_in_thread(root: Path, user: str, password: str, cert: Path | None = None) -> tuple[FTPServer, int]:
    """Start a server in a daemon thread; stop it with ``server.close_all()``."""
    server = make_server(root, user, password, 0, cert)
    threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.1, "blocking": True}, daemon=True).start()
    return server, server.address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, default=2121)
    parser.add_argument("--user", default="moodle")
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.root.mkdir(parents=True, exist_ok=True)
    make_server(args.root, args.user, args.password, args.port, args.cert).serve_forever()


if __name__ == "__main__":
    main()
