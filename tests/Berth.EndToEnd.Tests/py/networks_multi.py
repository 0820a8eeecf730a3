"""docker-py 7.1 on the network side: a network with two IPv4 pools (the first a /30 with room for one container), so
the second container's address comes from the second pool; a container of one pool reaches one of the other through
their gateways; connect with a fixed address of the second pool; list with filters (label, type builtin with host and
none, greedy inspect of each) and prune with a label filter that spares the network in use."""
import sys

import docker
from http_from import get_when_up

host, prefix, subnet_a, subnet_b = sys.argv[1:5]
small = subnet_a.replace(".0/24", ".0/30")
base_b = subnet_b.rsplit(".", 1)[0]
client = docker.DockerClient(base_url=host)
label = {"suite": prefix}
net = client.networks.create(prefix + "net", driver="bridge", labels=label, ipam=docker.types.IPAMConfig(pool_configs=[
    docker.types.IPAMPool(subnet=small), docker.types.IPAMPool(subnet=subnet_b, gateway=base_b + ".254")]))
spare = client.networks.create(prefix + "spare", driver="bridge", labels=label)
created = []
try:
    net.reload()
    config = net.attrs["IPAM"]["Config"]
    assert [(c["Subnet"], c["Gateway"]) for c in config] == [(small, small.replace(".0/30", ".1")), (subnet_b, base_b + ".254")], config
    server = client.containers.run("webapp:noexpose", detach=True, name=prefix + "srv", network=net.name)
    created.append(server.id)
    peer = client.containers.run("webapp:noexpose", detach=True, name=prefix + "peer", network=net.name)
    created.append(peer.id)
    server.reload()
    peer.reload()
    server_ip = server.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
    settings = peer.attrs["NetworkSettings"]["Networks"][net.name]
    assert server_ip == small.replace(".0/30", ".2"), server.attrs["NetworkSettings"]
    assert settings["IPAddress"].startswith(base_b + ".") and settings["IPPrefixLen"] == 24, settings
    assert settings["Gateway"] == base_b + ".254", settings
    out = get_when_up(peer, server_ip)
    assert f"Remote IP:</b> {settings['IPAddress']}" in out, out

    late = client.containers.create("webapp:noexpose", name=prefix + "late", network=net.name)
    created.append(late.id)
    net.disconnect(late)
    net.connect(late, ipv4_address=base_b + ".77")
    late.start()
    late.reload()
    assert late.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"] == base_b + ".77", late.attrs["NetworkSettings"]

    assert sorted(n.name for n in client.networks.list(filters={"label": "suite=" + prefix})) == [prefix + "net", prefix + "spare"]
    assert sorted(n.name for n in client.networks.list(filters={"type": "builtin"}, greedy=True)) == ["bridge", "host", "none"]
    assert [n.name for n in client.networks.list(filters={"dangling": True, "label": "suite=" + prefix})] == [prefix + "spare"]
    assert client.networks.get("host").attrs["Driver"] == "host"
    pruned = client.networks.prune(filters={"label": "suite=" + prefix})
    assert pruned["NetworksDeleted"] == [prefix + "spare"], pruned
    print("ok")
finally:
    for c in created:
        client.api.remove_container(c, force=True)
    net.remove()
    try:
        spare.remove()
    except docker.errors.NotFound:
        pass
