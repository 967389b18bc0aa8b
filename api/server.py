"""Run the API with uvicorn: one worker in-process, or N worker processes on one listening socket.

uvicorn's own ``--workers N`` binds its socket without ``IPPROTO_TCP``, so asyncio never sets
``TCP_NODELAY`` on accepted connections and every keep-alive response after the first waits
about 40 ms for a delayed ACK (uvicorn issue 3149; measured here: 81 req/s instead of 341). This
module binds the socket itself, with the protocol set, and hands it to uvicorn's supervisor.

``python -m api.server [APP] --port 8000 --workers 2`` (used by ``benchmarks/nearest.py``);
``goldentime serve`` calls :func:`serve`.
"""

from __future__ import annotations

import argparse
import os
import socket


def tcp_listener(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket whose accepted connections get ``TCP_NODELAY`` from asyncio."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def resolve_workers(workers: int) -> int:
    """``0`` means one worker per CPU core."""
    return workers if workers > 0 else (os.cpu_count() or 1)


def check_keys() -> str:
    """Refuse to serve with a weak signing key (:func:`geo.access.keys.check_signing_key`: the
    old default, an empty or short ``GOLDENTIME_SECRET_KEY``, unless ``GOLDENTIME_DEV_MODE=1``);
    makes the first random key in the state folder when there is none. Returns the key id
    that signs (with a warning in dev mode when the key is weak)."""
    from geo.access.keys import check_signing_key, weak_secret_reason
    from geo.settings import get_settings

    key = check_signing_key()
    s = get_settings()
    why = weak_secret_reason(s.secret_key)
    if why is not None and s.dev_mode:
        print(f"WARNING (GOLDENTIME_DEV_MODE=1): {why}; never serve real users like this")
    return key.kid


def serve(
    app: str = "api.main:app",
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: bool = False,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve ``app`` (an import string) until interrupted; refuses a weak signing key first
    (:func:`check_keys`)."""
    import uvicorn

    check_keys()
    from uvicorn.supervisors import Multiprocess

    n = resolve_workers(workers)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=n,
        factory=factory,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=False,  # the trusted proxy list is ours (api.deps.client_ip)
    )
    if n == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[tcp_listener(host, port)]).run()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("app", nargs="?", default="api.main:app")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--factory", action="store_true")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--no-access-log", action="store_true")
    a = ap.parse_args()
    from geo.errors import GoldentimeError

    try:
        check_keys()
    except GoldentimeError as e:
        raise SystemExit(f"error: {e.message}") from None
    serve(
        a.app,
        host=a.host,
        port=a.port,
        workers=a.workers,
        factory=a.factory,
        log_level=a.log_level,
        access_log=not a.no_access_log,
    )


if __name__ == "__main__":
    main()
