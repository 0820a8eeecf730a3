"""docker-py 7.1 on a dual-stack macvlan network: create it on a given parent with an IPv4 and an IPv6 pool, run a
container on it and read back the endpoint's addresses and gateways of both families."""
import sys

import docker

host, prefix, parent, subnet4, subnet6 = sys.argv[1:6]
client = docker.DockerClient(base_url=host)
net = client.networks.create(prefix + "net", driver="macvlan", enable_ipv6=True, options={"parent": parent},
                             ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet4),
                                                                        docker.types.IPAMPool(subnet=subnet6)]))
created = []
try:
    net.reload()
    assert net.attrs["Driver"] == "macvlan" and net.attrs["EnableIPv6"] is True, net.attrs
    config = net.attrs["IPAM"]["Config"]
    assert [c["Subnet"] for c in config] == [subnet4, subnet6], config
    box = client.containers.run("webapp:noexpose", detach=True, name=prefix + "box", network=net.name)
    created.append(box.id)
    box.reload()
    settings = box.attrs["NetworkSettings"]["Networks"][net.name]
    v6_base = subnet6.split("/")[0]
    assert settings["GlobalIPv6Address"] == v6_base + "2" and settings["GlobalIPv6PrefixLen"] == 64, settings
    assert settings["IPv6Gateway"] == config[1]["Gateway"] == v6_base + "1", settings
    assert settings["Gateway"] == config[0]["Gateway"] and settings["IPAddress"].startswith(subnet4.rsplit(".", 1)[0]), settings
    code, out = box.exec_run(["ip", "-6", "route"])
    assert code == 0 and ("default via " + v6_base + "1") in out.decode(), out.decode()
    print("ok")
finally:
    for c in created:
        client.api.remove_container(c, force=True)
    net.remove()
