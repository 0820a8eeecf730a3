# docker-py's containers.run(remove=True) follows the logs, waits, removes the container and only then reads the
# followed stream: every line the container wrote before it exited must be there. Several at once, so the engine's
# thread pool is busy when the exits come (CI lost the last lines, or all of them, on a loaded machine).
import sys, threading
import docker

host, image, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
client = docker.DockerClient(base_url=host, timeout=120)
lost, errors = [], []

def work():
    for _ in range(runs):
        try:
            out = client.containers.run(image, ["sh", "-c", "echo first; sleep 0; echo last"], remove=True).decode()
            if out.split() != ["first", "last"]:
                lost.append(out)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

workers = [threading.Thread(target=work) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
assert not errors, errors
assert not lost, f"{len(lost)} of {threads * runs} runs lost lines: {lost[:3]}"
print("ok", threads * runs)
