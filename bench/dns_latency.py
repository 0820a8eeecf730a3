"""DNS latency probe for bench/dns.sh, run inside the client's network namespace.

  dns_latency.py latency SERVER NAMES_FILE COUNT     sequential A queries over UDP: p50/p99/max in ms (JSON)
  dns_latency.py watch SERVER NAME TIMEOUT_S         prints "ready", then polls NAME every 0.5 ms and prints the
                                                     wall-clock time (time.time()) of its first answer, or "timeout"
"""
import json
import random
import socket
import struct
import sys
import time


def query(name, qid):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack(">HH", 1, 1)


def ask(sock, server, name, timeout=2.0):
    qid = random.randrange(65536)
    sock.settimeout(timeout)
    sock.sendto(query(name, qid), (server, 53))
    while True:
        data, _ = sock.recvfrom(4096)
        if struct.unpack(">H", data[:2])[0] == qid:
            return data[3] & 0xF, struct.unpack(">H", data[6:8])[0]


def latency(sock, server, names_file, count):
    names = [line.split()[0] for line in open(names_file) if line.strip()]
    times, lost = [], 0
    for i in range(count):
        t0 = time.perf_counter()
        try:
            rcode, answers = ask(sock, server, names[i % len(names)])
        except socket.timeout:
            lost += 1
            continue
        times.append((time.perf_counter() - t0) * 1000)
        assert rcode == 0 and answers > 0, (names[i % len(names)], rcode, answers)
    if not times:
        print(json.dumps({"lost": lost}))
        return
    times.sort()
    print(json.dumps({"p50_ms": round(times[len(times) // 2], 3), "p99_ms": round(times[int(len(times) * 0.99)], 3),
                      "max_ms": round(times[-1], 3), "count": count, "lost": lost}))


def watch(sock, server, name, limit):
    print("ready", flush=True)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        try:
            rcode, answers = ask(sock, server, name, 0.05)
            if rcode == 0 and answers > 0:
                print("%.6f" % time.time())
                return
        except socket.timeout:
            pass
        time.sleep(0.0005)
    print("timeout")


def main():
    mode, server = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if mode == "latency":
        latency(sock, server, sys.argv[3], int(sys.argv[4]))
    else:
        watch(sock, server, sys.argv[3], float(sys.argv[4]))


main()
