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

    def hostile(*members):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            for name, link in members:
                info = tarfile.TarInfo(name)
                if link is None:
                    info.size = 3
                    tar.addfile(info, io.BytesIO(b"bad"))
                else:
                    info.type, info.linkname = tarfile.SYMTYPE, link
                    tar.addfile(info)
        return raw.getvalue()

    for archive in (hostile(("../../pwned", None)), hostile(("hop", "/"), ("hop/pwned", None))):
        try:
            container.put_archive("/data", archive)
            raise AssertionError("a hostile archive was taken")
        except docker.errors.APIError as e:
            assert e.response.status_code == 400, e
    code, output = container.exec_run(["sh", "-c", "ls /pwned /data/pwned 2>&1; echo $?"])
    assert output.strip().endswith(b"1"), output
    print("OK hostile archives")
finally:
    container.remove(force=True)

assert prefix + "v" in [v.name for v in client.volumes.list(filters={"dangling": True})]
mounted = client.containers.run(
    "webapp:noexpose", ["sh", "-c", "grep -E ' /(ro|t|t2) ' /proc/mounts; touch /ro/x 2>/dev/null || echo readonly"],
    mounts=[docker.types.Mount("/ro", prefix + "v", type="volume", read_only=True),
            docker.types.Mount("/t", None, type="tmpfs", tmpfs_size=1 << 20)],
    tmpfs={"/t2": "size=2m"}, remove=True).decode()
assert "readonly" in mounted and " /t tmpfs " in mounted and " /t2 tmpfs " in mounted, mounted
assert "size=1024k" in mounted and "size=2048k" in mounted, mounted
print("OK mounts")

volume.remove()
assert prefix + "v" not in [v.name for v in client.volumes.list()]
anonymous = client.volumes.create()
pruned = client.volumes.prune()
assert anonymous.name in (pruned["VolumesDeleted"] or []), pruned
print("OK prune")
