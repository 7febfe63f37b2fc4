#!/usr/bin/env python3
"""Start-up latency: from starting a client process to its connection
arriving at a listening socket (the first bytes on the wire), median of N
runs, for smtp-send and, as the reference, Postfix's smtp-source.

usage: first_byte.py SMTP_SEND [N]    prints key=value lines (milliseconds)
"""
import socket
import statistics
import subprocess
import sys
import threading
import time


def one(argv, port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    arrived = {}

    def accept():
        conn, _ = ls.accept()
        arrived["t"] = time.perf_counter()
        # Greet and hang up: the client then fails fast, which is fine here.
        conn.sendall(b"554 5.3.2 measuring start-up only\r\n")
        conn.close()

    th = threading.Thread(target=accept)
    th.start()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    th.join(10)
    p.wait(10)
    ls.close()
    return (arrived["t"] - t0) * 1000


def main():
    smtp_send = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clients = {
        "smtp-send": [smtp_send, "-q", f"127.0.0.1:{port}", "a@example.com", "b@example.com"],
        "smtp-source": ["smtp-source", "-m", "1", f"127.0.0.1:{port}"],
    }
    for name, argv in clients.items():
        one(argv, port)  # warm the page cache and the component cache
        times = [one(argv, port) for _ in range(n)]
        print(f"first_byte_ms_{name}={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
