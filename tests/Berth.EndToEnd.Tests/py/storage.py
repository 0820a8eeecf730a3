"""docker-py 7.1 against Berth: volumes (create, list with filters, inspect, remove, prune), put_archive and
get_archive of a running container, a volume mounted through `volumes=`. Prints OK lines; any failure raises."""
import io
import sys
import tarfile

import docker

host, prefix = sys.argv[1], sys.argv[2]
client = docker.DockerClient(base_url=host, version="auto")

volume = client.volumes.create(name=prefix + "v", labels={"suite": prefix})
assert volume.name == prefix + "v"
assert volume.attrs["Labels"] == {"suite": prefix}, volume.attrs
listed = [v.name for v in client.volumes.list(filters={"label": "suite=" + prefix})]
assert listed == [prefix + "v"], listed
assert client.volumes.get(prefix + "v").attrs["Driver"] == "local"
print("OK volumes")

container = client.containers.run("webapp:noexpose", ["sleep", "300"], name=prefix + "c", detach=True,
                                  volumes={prefix + "v": {"bind": "/data", "mode": "rw"}})
try:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"hello from docker-py\n"
        info = tarfile.TarInfo("greeting.txt")
        info.size = len(data)
        info.mode = 0o640
        tar.addfile(info, io.BytesIO(data))
    assert container.put_archive("/data", buffer.getvalue())
    code, output = container.exec_run(["cat", "/data/greeting.txt"])
    assert code == 0 and output == b"hello from docker-py\n", (code, output)

    stream, stat = container.get_archive("/data/greeting.txt")
    assert stat["name"] == "greeting.txt" and stat["size"] == len(data), stat
    assert stat["mode"] == 0o640, stat
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.getmember("greeting.txt")
        assert tar.extractfile(member).read() == data
        assert member.mode == 0o640
    stream, stat = container.get_archive("/data")
    assert stat["mode"] & (1 << 31), stat  # a directory, in Go's FileMode
    print("OK archive")

    try:
        container.put_archive("/no/such/dir", buffer.getvalue())
        raise AssertionError("put_archive to a missing directory succeeded")
    except docker.errors.NotFound:
        pass
    try:
        volume.remove()
        raise AssertionError("removing a volume in use succeeded")
    except docker.errors.APIError as e:
        assert e.response.status_code == 409, e
    print("OK errors")
finally:
    container.remove(force=True)

volume.remove()
assert prefix + "v" not in [v.name for v in client.volumes.list()]
anonymous = client.volumes.create()
pruned = client.volumes.prune()
assert anonymous.name in (pruned["VolumesDeleted"] or []), pruned
print("OK prune")
