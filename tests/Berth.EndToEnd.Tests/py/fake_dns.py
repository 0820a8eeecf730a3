"""A tiny upstream DNS server for tests: answers every A query with 192.0.2.55 (TTL 60), over UDP on port 53."""
import socket
import struct
import sys

address = sys.argv[1]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((address, 53))
print("ready", flush=True)
while True:
    packet, client = sock.recvfrom(4096)
    if len(packet) < 12:
        continue
    end = 12
    while packet[end] != 0:
        end += packet[end] + 1
    end += 5
    header = packet[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0)
    answer = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([192, 0, 2, 55])
    sock.sendto(header + packet[12:end] + answer, client)
