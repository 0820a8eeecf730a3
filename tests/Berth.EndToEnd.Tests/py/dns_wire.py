"""The embedded resolver on the wire, from inside a container's network namespace (run under nsenter --net):

  dns_wire.py SERVER NAME ADDRESS PTR_NAME

checks that NAME answers ADDRESS over UDP with EDNS0 (the OPT record comes back), AAAA of NAME is an empty NOERROR,
an unknown single label is NXDOMAIN, the PTR of ADDRESS is PTR_NAME, and one TCP connection carries three queries
sent back to back (RFC 7766). Prints "ok"; an assertion names the first check that failed."""
import random
import socket
import struct
import sys

A, PTR, AAAA, OPT = 1, 12, 28, 41


def encode(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"


def query(name, qtype, edns=None):
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0) + encode(name) + struct.pack(">HH", qtype, 1)
    if edns:
        packet += b"\0" + struct.pack(">HHIH", OPT, edns, 0, 0)
    return qid, packet


def read_name(data, offset):
    labels, jumped, end = [], False, offset
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if not jumped:
                end = offset + 2
            offset, jumped = ((length & 0x3F) << 8) | data[offset + 1], True
            continue
        offset += 1
        if length == 0:
            return ".".join(labels), (end if jumped else offset)
        labels.append(data[offset:offset + length].decode())
        offset += length


def parse(data):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", data[:12])
    offset = 12
    for _ in range(qd):
        _, offset = read_name(data, offset)
        offset += 4
    records = []
    for _ in range(an + ns + ar):
        name, offset = read_name(data, offset)
        rtype, _, _, length = struct.unpack(">HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        if rtype == A:
            rdata = socket.inet_ntoa(rdata)
        elif rtype == PTR:
            rdata = read_name(data, offset)[0]
        records.append((rtype, rdata))
        offset += length
    return {"id": qid, "rcode": flags & 0xF, "tc": bool(flags & 0x0200), "an": records[:an], "ar": records[an + ns:]}


def ask_udp(server, packet):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(packet, (server, 53))
        return parse(sock.recv(65535))


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "the resolver closed the TCP connection"
        data += chunk
    return data


def main():
    server, name, address, ptr_name = sys.argv[1:5]
    _, packet = query(name, A, edns=1232)
    answer = ask_udp(server, packet)
    assert answer["rcode"] == 0 and (A, address) in answer["an"], ("A over UDP with EDNS0", answer)
    assert any(t == OPT for t, _ in answer["ar"]), ("the OPT record comes back", answer)

    answer = ask_udp(server, query(name, AAAA)[1])
    assert answer["rcode"] == 0 and not answer["an"], ("AAAA of an IPv4-only name: empty NOERROR", answer)

    answer = ask_udp(server, query("no-such-container-here", A)[1])
    assert answer["rcode"] == 3, ("an unknown single label: NXDOMAIN", answer)

    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    answer = ask_udp(server, query(reverse, PTR)[1])
    assert answer["rcode"] == 0 and (PTR, ptr_name) in answer["an"], ("PTR of the container's address", answer)

    with socket.create_connection((server, 53), timeout=10) as sock:
        asked = [query(name, A), query(name, AAAA), query("no-such-container-here", A)]
        sock.sendall(b"".join(struct.pack(">H", len(p)) + p for _, p in asked))
        for (qid, _), rcode in zip(asked, [0, 0, 3]):
            length = struct.unpack(">H", read_exactly(sock, 2))[0]
            answer = parse(read_exactly(sock, length))
            assert answer["id"] == qid and answer["rcode"] == rcode, ("three queries on one TCP connection", answer)
    print("ok")


main()
