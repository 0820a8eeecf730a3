"""docker-py 7.1 names: a user network, a container with aliases through networking_config, a peer that resolves
the alias and the name through the embedded resolver (and, from its namespace, the wire checks of dns_wire.py: EDNS0,
empty AAAA, NXDOMAIN, PTR, several queries on one TCP connection), then a live connect with an alias."""
import os
import subprocess
import sys

import docker

host, prefix, subnet = sys.argv[1], sys.argv[2], sys.argv[3]
client = docker.DockerClient(base_url=host)
net = client.networks.create(prefix + "net", driver="bridge",
                             ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
created = []
try:
    config = client.api.create_networking_config({net.name: client.api.create_endpoint_config(aliases=["db", "pg"])})
    server_id = client.api.create_container("webapp:noexpose", name=prefix + "srv", networking_config=config,
                                            host_config=client.api.create_host_config(network_mode=net.name))["Id"]
    created.append(server_id)
    client.api.start(server_id)
    server = client.containers.get(server_id)
    ip = server.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
    peer = client.containers.run("webapp:noexpose", detach=True, name=prefix + "peer", network=net.name)
    created.append(peer.id)
    for name in ["db", "pg", prefix + "srv"]:
        code, out = peer.exec_run(["/bin/busybox", "nslookup", "-type=a", name, "127.0.0.11"])
        assert code == 0 and f"Address: {ip}" in out.decode(), (name, code, out.decode())
    sandbox = client.containers.get(peer.id).attrs["NetworkSettings"]["SandboxKey"]
    wire = subprocess.run(["nsenter", "--net=" + sandbox, sys.executable,
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "dns_wire.py"),
                           "127.0.0.11", "db", ip, f"{prefix}srv.{net.name}"], capture_output=True, text=True, timeout=60)
    assert wire.returncode == 0 and "ok" in wire.stdout, wire.stdout + wire.stderr
    other = client.containers.run("webapp:noexpose", detach=True, name=prefix + "late")
    created.append(other.id)
    net.connect(other, aliases=["cache"])
    other.reload()
    late_ip = other.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
    code, out = peer.exec_run(["/bin/busybox", "nslookup", "-type=a", "cache", "127.0.0.11"])
    assert code == 0 and f"Address: {late_ip}" in out.decode(), out.decode()
    print("ok")
finally:
    for cid in created:
        client.api.remove_container(cid, force=True)
    net.remove()
