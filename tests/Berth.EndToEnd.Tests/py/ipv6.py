"""docker-py 7.1 on a dual-stack network: create it with an IPv4 and an IPv6 pool, run a server on it, connect a
second container with a fixed IPv6 address (--ip6), resolve the server's AAAA through the embedded resolver and
fetch from it over IPv6: the server sees the client's own v6 address."""
import sys

import docker
from http_from import get_when_up

host, prefix, subnet4, subnet6, client_ip6 = sys.argv[1:6]
client = docker.DockerClient(base_url=host)
net = client.networks.create(prefix + "net", driver="bridge", enable_ipv6=True,
                             ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet4),
                                                                        docker.types.IPAMPool(subnet=subnet6)]))
created = []
try:
    net.reload()
    assert net.attrs["EnableIPv6"] is True, net.attrs
    assert [c["Subnet"] for c in net.attrs["IPAM"]["Config"]] == [subnet4, subnet6], net.attrs["IPAM"]
    server = client.containers.run("webapp:noexpose", detach=True, name=prefix + "srv", network=net.name)
    created.append(server.id)
    server.reload()
    server_ip6 = server.attrs["NetworkSettings"]["Networks"][net.name]["GlobalIPv6Address"]
    assert server_ip6.startswith(subnet6.split("/")[0].rstrip(":")), server.attrs["NetworkSettings"]
    peer = client.containers.create("webapp:noexpose", name=prefix + "peer", network=net.name)
    created.append(peer.id)
    net.disconnect(peer)
    net.connect(peer, ipv6_address=client_ip6)
    peer.start()
    peer.reload()
    settings = peer.attrs["NetworkSettings"]["Networks"][net.name]
    assert settings["GlobalIPv6Address"] == client_ip6 and settings["GlobalIPv6PrefixLen"] == 64, settings
    assert settings["IPv6Gateway"] == net.attrs["IPAM"]["Config"][1]["Gateway"], settings
    code, out = peer.exec_run(["/bin/busybox", "nslookup", "-type=aaaa", prefix + "srv", "127.0.0.11"])
    assert code == 0 and server_ip6 in out.decode(), (code, out.decode())
    out = get_when_up(peer, server_ip6)
    assert f"Remote IP:</b> {client_ip6}" in out, out
    hosts = peer.exec_run(["cat", "/etc/hosts"])[1].decode()
    assert client_ip6 in hosts, hosts
    print("ok")
finally:
    for c in created:
        client.api.remove_container(c, force=True)
    net.remove()
