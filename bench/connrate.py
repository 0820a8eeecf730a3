#!/usr/bin/env python3
"""New TCP connections per second to HOST:PORT: connect, close, repeat, from THREADS threads for SECONDS.

    python3 bench/connrate.py HOST PORT [SECONDS] [THREADS]   -> prints the rate (connections/s)
"""
import socket
import struct
import sys
import threading
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    counts = [0] * threads
    errors = [0] * threads
    deadline = time.monotonic() + seconds

    def run(i):
        while time.monotonic() < deadline:
            s = socket.socket(family, socket.SOCK_STREAM)
            # Closed with a reset: thousands of connections a second (a docker-proxy accepts at once) would otherwise
            # fill the ephemeral range with TIME_WAIT entries to this one address and port, and connect would fail.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.settimeout(2)
            try:
                s.connect((host, port))
                counts[i] += 1
            except OSError:
                errors[i] += 1
            finally:
                s.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - start
    if sum(errors):
        print(f"{sum(errors)} of {sum(counts) + sum(errors)} connections failed", file=sys.stderr)
    if sum(counts) == 0:
        sys.exit(1)
    print(f"{sum(counts) / elapsed:.0f}")


if __name__ == "__main__":
    main()
