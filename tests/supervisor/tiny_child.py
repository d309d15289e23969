"""A tiny gateway stand-in for process tests: one thread, one selector loop, stdlib only.

It serves ``GET /healthz`` -> 200 ``{"ok": true}`` on the inherited fd 3 (``LISTEN_FDS``/``LISTEN_PID``)
or on ``--port``; sends ``READY=1`` and ``WATCHDOG=1`` heartbeats from its loop on ``NOTIFY_SOCKET``
(so SIGSTOP silences both, like a hung event loop); and misbehaves on request:

    --ignore-term        ignore SIGTERM
    --exit-code N        exit with N at once (after writing --last-error CAUSE if given)
    --group-holder       fork a child that stays in our process group and holds the socket
    --escape-holder      fork a grandchild that setsid()s and double-forks, holding the socket
                         (both in generation 1 only, NEXUS_GENERATION; later ones start clean)
    --no-ready           never send READY=1
    --silent             send nothing on NOTIFY_SOCKET (a program that knows no sd_notify)
    --hang-on-usr1       SIGUSR1 blocks the loop for good (a deadlock: running, not stopped)
    --pidfile PATH       write "pid holder_pid" so tests can find every process
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time


def notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
        sock.sendto(message.encode(), target)


def listening_socket(port: int | None) -> socket.socket:
    if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
        return socket.socket(fileno=3)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    sock.listen(128)
    return sock


def hold_forever(sock: socket.socket) -> None:
    """What a leaked worker does: keep the listening socket and accept without answering."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        try:
            conn, _ = sock.accept()
            conn.close()
        except OSError:
            time.sleep(0.05)


def spawn_holder(sock: socket.socket, *, escape: bool) -> int:
    """Fork a process that keeps ``sock``; with ``escape`` it leaves our session and our parentage."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        if escape:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
        os.write(write_fd, str(os.getpid()).encode())
        os.close(write_fd)
        hold_forever(sock)
        os._exit(0)
    os.close(write_fd)
    holder = int(os.read(read_fd, 32).decode())
    os.close(read_fd)
    if escape:
        os.waitpid(pid, 0)
    return holder


def serve(sock: socket.socket, *, ready: bool, beat_every: float) -> None:
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    if ready:
        notify("READY=1\nSTATUS=serving")
    next_beat = 0.0
    while True:
        now = time.monotonic()
        if now >= next_beat:
            notify("WATCHDOG=1")
            next_beat = now + beat_every
        for key, _ in sel.select(timeout=max(0.0, next_beat - now)):
            if key.fileobj is sock:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
            else:
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    data = conn.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    body = b'{"ok": true}'
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                    with contextlib.suppress(OSError):
                        conn.sendall(head.encode() + body)
                sel.unregister(conn)
                conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit-code", type=int)
    parser.add_argument("--last-error")
    parser.add_argument("--group-holder", action="store_true")
    parser.add_argument("--escape-holder", action="store_true")
    parser.add_argument("--no-ready", action="store_true")
    parser.add_argument("--silent", action="store_true")
    parser.add_argument("--hang-on-usr1", action="store_true")
    parser.add_argument("--pidfile")
    args = parser.parse_args()
    if args.exit_code is not None:
        if args.last_error:
            home = os.environ["NEXUS_HOME"]
            record = {"cause": args.last_error, "message": f"{args.last_error} broke", "pid": os.getpid()}
            record["time"] = time.time()
            os.makedirs(f"{home}/run", exist_ok=True)
            with open(f"{home}/run/gateway-last-error.json.tmp", "w") as fh:
                json.dump(record, fh)
            os.replace(f"{home}/run/gateway-last-error.json.tmp", f"{home}/run/gateway-last-error.json")
        sys.exit(args.exit_code)
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.hang_on_usr1:
        signal.signal(signal.SIGUSR1, lambda *_: time.sleep(3600))
    sock = listening_socket(args.port)
    holders = []
    first = os.environ.get("NEXUS_GENERATION", "1") == "1"  # a leak of the first generation only: its
    # successors start clean, so whatever still swallows connections after a restart is the old leak
    if args.group_holder and first:
        holders.append(spawn_holder(sock, escape=False))
    if args.escape_holder and first:
        holders.append(spawn_holder(sock, escape=True))
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(" ".join(str(p) for p in [os.getpid(), *holders]))
        os.replace(tmp, args.pidfile)
    if args.silent:
        os.environ.pop("NOTIFY_SOCKET", None)
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    serve(sock, ready=not args.no_ready, beat_every=usec / 2e6 if usec else 1.0)


if __name__ == "__main__":
    main()
