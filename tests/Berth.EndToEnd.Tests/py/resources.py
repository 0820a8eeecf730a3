"""docker-py 7.1 on resources: run with limits, stats, pause/unpause, update, top. Prints one JSON line of facts."""
import json
import sys

import docker

host, image, name = sys.argv[1], sys.argv[2], sys.argv[3]
client = docker.DockerClient(base_url=host, version="auto")
c = client.containers.run(image, ["sleep", "300"], name=name, detach=True, mem_limit="48m", pids_limit=40,
                          nano_cpus=500_000_000, ulimits=[docker.types.Ulimit(name="nofile", soft=900, hard=1000)])
try:
    stats = c.stats(stream=False)
    stream = c.stats(stream=True, decode=True)
    first, second = next(stream), next(stream)
    c.pause()
    c.reload()
    paused = c.status
    c.unpause()
    c.update(mem_limit="96m", memswap_limit="192m", restart_policy={"Name": "on-failure", "MaximumRetryCount": 3})
    c.reload()
    top = c.top(ps_args="-o pid,args")
    print(json.dumps({
        "id": c.id,
        "memory_limit": stats["memory_stats"]["limit"],
        "pids_current": stats["pids_stats"]["current"],
        "pids_limit": stats["pids_stats"].get("limit"),
        "cpu_total": stats["cpu_stats"]["cpu_usage"]["total_usage"],
        "precpu_total": stats["precpu_stats"]["cpu_usage"]["total_usage"],
        "system_cpu": stats["cpu_stats"].get("system_cpu_usage", 0),
        "networks": sorted(stats.get("networks", {}).keys()),
        "stream_advances": second["precpu_stats"]["cpu_usage"]["total_usage"]
                           == first["cpu_stats"]["cpu_usage"]["total_usage"],
        "paused_status": paused,
        "status_after": c.status,
        "memory_after_update": c.attrs["HostConfig"]["Memory"],
        "swap_after_update": c.attrs["HostConfig"]["MemorySwap"],
        "restart_after_update": c.attrs["HostConfig"]["RestartPolicy"],
        "top_titles": top["Titles"],
        "top_commands": [p[-1] for p in top["Processes"]],
    }))
finally:
    c.remove(force=True)
