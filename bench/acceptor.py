#!/usr/bin/env python3
"""Accepts TCP connections on [::]:PORT (both families) and closes each at once: the server side of
bench/connrate.py. Run inside a container's network namespace (nsenter --net=/proc/PID/ns/net), so the connections
take the container's data path; busybox httpd, the containers' own server, forks per connection with a listen backlog
of 9, so a rate measured against it is httpd's (SYNs dropped on a full queue, retried after 1 s): about 40/s here.

    nsenter --net=/proc/PID/ns/net python3 bench/acceptor.py PORT
"""
import socket
import sys


def main():
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", int(sys.argv[1])))
    server.listen(4096)
    while True:
        connection, _ = server.accept()
        connection.close()


if __name__ == "__main__":
    main()
