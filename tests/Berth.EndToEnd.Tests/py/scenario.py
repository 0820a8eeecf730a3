"""The seed scenario through docker-py 7.1: ping, version, run detached, inspect the address, fetch it, stop, remove."""
import sys
import time
import urllib.error
import urllib.request

import docker

host, name = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url=host)
assert client.ping()
print("api", client.version()["ApiVersion"])
container = client.containers.run("webapp:noexpose", detach=True, name=name)
try:
    container.reload()
    ip = container.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert container.status == "running", container.status
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # run(detach=True) returns once the process runs, not once httpd listens: retry a refused connection briefly.
    for attempt in range(50):
        try:
            print(opener.open(f"http://{ip}/", timeout=5).read().decode())
            break
        except urllib.error.URLError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    assert name in [c.name for c in client.containers.list()]
    container.stop(timeout=1)
    container.reload()
    assert container.status == "exited", container.status
finally:
    container.remove(force=True)
