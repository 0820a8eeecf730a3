#!/usr/bin/env python3
"""berth-cni next to the reference bridge+portmap plugins: ADD/DEL time with 1, 100, 1000 port mappings, and the
connection rate through one mapped port with 1 and with many mappings. Driven by bench/cni.sh (which builds the plugin
and cleans up); calls the plugins exactly as a runtime does (CNI_* variables, config on stdin)."""
import json, os, signal, socket, statistics, subprocess, sys, threading, time

PLUGINS = "/usr/lib/cni"


def cni(plugin, command, config, cid, netns, ifname="eth0"):
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME=ifname,
               CNI_PATH=PLUGINS)
    t0 = time.perf_counter()
    p = subprocess.run([plugin], input=json.dumps(config).encode(), env=env, capture_output=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{plugin} {command} failed: {p.stdout.decode()} {p.stderr.decode()}")
    return elapsed, (json.loads(p.stdout) if p.stdout.strip() else None)


def mappings(count, first, last_port):
    """count mappings to container port 80; the last one is last_port, the others run from first."""
    ports = list(range(first, first + count - 1)) + [last_port]
    return [{"hostPort": p, "containerPort": 80, "protocol": "tcp"} for p in ports]


class Setup:
    """Each add returns (seconds, delete); live holds the deletes not yet run, for the cleanup of an interrupted run."""

    def __init__(self, a):
        self.a = a
        self.live = []

    def tracked(self, add):
        def run(*args):
            t, delete = add(*args)
            entry = [None]

            def undo():
                self.live.remove(entry[0])
                return delete()
            entry[0] = undo
            self.live.append(undo)
            return t, undo
        return run

    def undo_all(self):
        for undo in list(reversed(self.live)):
            try:
                undo()
            except Exception as e:  # keep undoing the rest
                print("cleanup:", e, file=sys.stderr)

    # berth-cni alone: bridge, veth, IPAM and ports in one plugin
    def berth_add(self, cid, ns, maps, ifname="eth0"):
        conf = {"cniVersion": "1.1.0", "name": self.a["berth_net"], "type": "berth-cni", "bridge": self.a["berth_bridge"],
                "subnet": self.a["berth_subnet"], "dataDir": self.a["work"] + "/berth-state",
                "ipam": {"dataDir": self.a["work"] + "/berth-ipam"}, "runtimeConfig": {"portMappings": maps}}
        t, _ = cni(self.a["plugin"], "ADD", conf, cid, f"/run/netns/{ns}", ifname)
        return t, lambda: cni(self.a["plugin"], "DEL", conf, cid, f"/run/netns/{ns}", ifname)[0]

    def _bridge_conf(self, version="1.0.0"):
        return {"cniVersion": version, "name": self.a["ref_net"], "type": "bridge", "bridge": self.a["ref_bridge"],
                "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "subnet": self.a["ref_subnet"], "dataDir": self.a["work"] + "/ref-ipam",
                         "routes": [{"dst": "0.0.0.0/0"}]}}

    def _chain(self, second, cid, ns, maps, ifname="eth0"):
        bridge = self._bridge_conf()
        netns = f"/run/netns/{ns}"
        t1, prev = cni(f"{PLUGINS}/bridge", "ADD", bridge, cid, netns, ifname)
        conf = dict(second, cniVersion="1.0.0", name=self.a["ref_net"], runtimeConfig={"portMappings": maps}, prevResult=prev)
        t2, _ = cni(second["path"], "ADD", {k: v for k, v in conf.items() if k != "path"}, cid, netns, ifname)

        def delete():
            d1, _ = cni(second["path"], "DEL", {k: v for k, v in conf.items() if k != "path"}, cid, netns, ifname)
            d2, _ = cni(f"{PLUGINS}/bridge", "DEL", bridge, cid, netns, ifname)
            return d1 + d2
        return t1 + t2, delete

    # the reference pair a cluster uses: bridge, then portmap with prevResult
    def portmap_add(self, cid, ns, maps, ifname="eth0"):
        return self._chain({"type": "portmap", "path": f"{PLUGINS}/portmap", "snat": True,
                            "capabilities": {"portMappings": True}}, cid, ns, maps, ifname)

    # berth-cni as the portmap replacement after the reference bridge
    def chained_add(self, cid, ns, maps, ifname="eth0"):
        return self._chain({"type": "berth-cni", "path": self.a["plugin"], "dataDir": self.a["work"] + "/berth-state"},
                           cid, ns, maps, ifname)


def serve(port):
    """Inside the container's namespace: answer each connection with one byte and close."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(4096)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"x")
        except OSError:
            pass
        c.close()


def rate(port, seconds, threads=2):
    """Connections per second to 127.0.0.1:port: connect, read the byte, close."""
    count = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(i):
        while time.perf_counter() < stop:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            if c.recv(1) != b"x":
                raise RuntimeError("bad answer")
            c.close()
            count[i] += 1
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(count) / (time.perf_counter() - t0)


def main():
    a = json.loads(sys.argv[1])
    setup = Setup(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below on bench/cni.sh's cleanup
    try:
        return measure(a, setup)
    finally:
        setup.undo_all()


def measure(a, setup):
    ns = a["namespaces"]
    sizes, runs = a["sizes"], a["runs"]
    berth, chained, portmap = (setup.tracked(f) for f in (setup.berth_add, setup.chained_add, setup.portmap_add))
    methods = [("berth-cni", berth, 0), ("bridge+berth-cni", chained, 1), ("bridge+portmap", portmap, 2)]
    results = {"add": {}, "del": {}, "rate": {}}
    n = 0
    # A node runs other pods: one resident attachment (no mappings, a namespace of its own) per network keeps its
    # bridge and table, so the figures are of one more pod, not of the network's first.
    for _, add, slot in methods:
        add(f"bench-resident-{slot}", ns[slot + 3], [], "eth9")
    for size in sizes:
        for name, add, slot in methods:
            if name == "bridge+portmap" and size not in a["portmap_sizes"]:
                print(f"  {name:17} {size:5} mappings: skipped (--portmap-sizes)", flush=True)
                continue
            reps = runs if not (name == "bridge+portmap" and size >= 1000) else 1
            adds, dels = [], []
            for _ in range(reps):
                n += 1
                t, delete = add(f"bench-{n}", ns[slot], mappings(size, a["port_base"], a["port_base"] + 10000))
                adds.append(t)
                dels.append(delete())
            results["add"].setdefault(name, {})[size] = statistics.median(adds)
            results["del"].setdefault(name, {})[size] = statistics.median(dels)
            print(f"  {name:17} {size:5} mappings: ADD {statistics.median(adds):8.3f} s  DEL {statistics.median(dels):8.3f} s"
                  f"  ({reps} run{'s' if reps > 1 else ''})", flush=True)
    # connection rate through one mapped port: with it alone, then as the last of many; alternated, medians
    port = a["port_base"] + 10000
    for name, add, slot, many in [("berth-cni", berth, 0, a["rate_mappings"]),
                                  ("bridge+portmap", portmap, 2, a["portmap_rate_mappings"])]:
        server = subprocess.Popen(["ip", "netns", "exec", ns[slot], sys.executable, __file__, "serve", "80"],
                                  stdout=subprocess.PIPE)
        try:
            server.stdout.readline()
            samples = {1: [], many: []}
            for _ in range(a["rate_rounds"]):
                for count in (1, many):
                    n += 1
                    _, delete = add(f"bench-rate-{n}", ns[slot], mappings(count, a["port_base"], port))
                    try:
                        time.sleep(1)  # let the plugin's work (a 10,000-element commit) settle first
                        rate(port, 0.5)  # warm-up
                        samples[count].append(rate(port, a["rate_seconds"]))
                    finally:
                        delete()
            alone, crowded = statistics.median(samples[1]), statistics.median(samples[many])
            results["rate"][name] = {"mappings": many, "alone": alone, "with_many": crowded, "samples": samples}
            print(f"  {name:17} connections/s through one port: {alone:8.0f} alone, {crowded:8.0f} as the last of "
                  f"{many} ({crowded / alone:.2f}; medians of {a['rate_rounds']} alternated rounds)", flush=True)
            print(f"  {'':17} rounds alone: {' '.join(f'{x:.0f}' for x in samples[1])}; "
                  f"with {many}: {' '.join(f'{x:.0f}' for x in samples[many])}", flush=True)
        finally:
            server.kill()
            server.wait()
    print(json.dumps(results), file=open(a["work"] + "/results.json", "w"))
    return results


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        main()
