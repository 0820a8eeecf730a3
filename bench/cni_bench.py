#!/usr/bin/env python3
"""berth-cni next to the reference bridge+portmap plugins: ADD/DEL time with 1, 100, 1000 port mappings, and the
connection rate through one mapped port with 1 and with many mappings. Driven by bench/cni.sh (which builds the plugin
and cleans up); calls the plugins exactly as a runtime does (CNI_* variables, config on stdin)."""
import ctypes, json, os, signal, socket, statistics, struct, subprocess, sys, time

CLONE_NEWNET = 0x40000000

PLUGINS = "/usr/lib/cni"


def cni(plugin, command, config, cid, netns, ifname="eth0", node=None):
    """node: a namespace that plays the host (the rate measurement runs two side by side); None: this host."""
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME=ifname,
               CNI_PATH=PLUGINS)
    t0 = time.perf_counter()
    p = subprocess.run((["ip", "netns", "exec", node] if node else []) + [plugin], input=json.dumps(config).encode(),
                       env=env, capture_output=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{plugin} {command} failed: {p.stdout.decode()} {p.stderr.decode()}")
    return elapsed, (json.loads(p.stdout) if p.stdout.strip() else None)


def mappings(count, first, last_port):
    """count mappings to container port 80; the last one is last_port, the others run from first."""
    ports = list(range(first, first + count - 1)) + [last_port]
    return [{"hostPort": p, "containerPort": 80, "protocol": "tcp"} for p in ports]


class Setup:
    """Each add returns (seconds, delete); live holds the deletes not yet run, for the cleanup of an interrupted run.
    node: the namespace that plays the host (state directories of its own), None for this host."""

    def __init__(self, a):
        self.a = a
        self.live = []

    def tracked(self, add):
        def run(*args, **kwargs):
            t, delete = add(*args, **kwargs)
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

    def _dir(self, name, node):
        return f"{self.a['work']}/{name}" + (f"-{node}" if node else "")

    # berth-cni alone: bridge, veth, IPAM and ports in one plugin
    def berth_add(self, cid, ns, maps, ifname="eth0", node=None):
        conf = {"cniVersion": "1.1.0", "name": self.a["berth_net"], "type": "berth-cni", "bridge": self.a["berth_bridge"],
                "subnet": self.a["berth_subnet"], "dataDir": self._dir("berth-state", node),
                "ipam": {"dataDir": self._dir("berth-ipam", node)}, "runtimeConfig": {"portMappings": maps}}
        t, _ = cni(self.a["plugin"], "ADD", conf, cid, f"/run/netns/{ns}", ifname, node)
        return t, lambda: cni(self.a["plugin"], "DEL", conf, cid, f"/run/netns/{ns}", ifname, node)[0]

    def _bridge_conf(self, node, version="1.0.0"):
        return {"cniVersion": version, "name": self.a["ref_net"], "type": "bridge", "bridge": self.a["ref_bridge"],
                "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "subnet": self.a["ref_subnet"], "dataDir": self._dir("ref-ipam", node),
                         "routes": [{"dst": "0.0.0.0/0"}]}}

    def _chain(self, second, cid, ns, maps, ifname="eth0", node=None):
        bridge = self._bridge_conf(node)
        netns = f"/run/netns/{ns}"
        t1, prev = cni(f"{PLUGINS}/bridge", "ADD", bridge, cid, netns, ifname, node)
        conf = dict(second, cniVersion="1.0.0", name=self.a["ref_net"], runtimeConfig={"portMappings": maps}, prevResult=prev)
        conf = {k: v for k, v in conf.items() if k != "path"}
        t2, _ = cni(second["path"], "ADD", conf, cid, netns, ifname, node)

        def delete():
            d1, _ = cni(second["path"], "DEL", conf, cid, netns, ifname, node)
            d2, _ = cni(f"{PLUGINS}/bridge", "DEL", bridge, cid, netns, ifname, node)
            return d1 + d2
        return t1 + t2, delete

    # the reference pair a cluster uses: bridge, then portmap with prevResult
    def portmap_add(self, cid, ns, maps, ifname="eth0", node=None):
        return self._chain({"type": "portmap", "path": f"{PLUGINS}/portmap", "snat": True,
                            "capabilities": {"portMappings": True}}, cid, ns, maps, ifname, node)

    # berth-cni as the portmap replacement after the reference bridge
    def chained_add(self, cid, ns, maps, ifname="eth0", node=None):
        return self._chain({"type": "berth-cni", "path": self.a["plugin"], "dataDir": self._dir("berth-state", node)},
                           cid, ns, maps, ifname, node)


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


def interleaved(port, nodes, rounds, per_round):
    """One client, one connection at a time, alternating between the nodes connection by connection (the order flips
    every pair): connect to 127.0.0.1:port, read the byte, close. Sockets are made inside each node's namespace
    (setns, then socket(): a socket keeps the namespace it was made in) and used from here, so both nodes' connections
    share this process, its CPU and every moment of the machine's load. Prints, per round, each node's median time
    per connection in microseconds. The close is a reset (SO_LINGER 0): no TIME_WAIT entry piles up in conntrack."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    fds = [os.open(f"/run/netns/{node}", os.O_RDONLY) for node in nodes]
    linger = struct.pack("ii", 1, 0)
    address = ("127.0.0.1", port)

    def sockets_in(fd, count):
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        made = [socket.socket() for _ in range(count)]
        libc.setns(own, CLONE_NEWNET)
        for c in made:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            c.settimeout(5)
        return made

    for _ in range(rounds):
        times = [[], []]
        batch = 100
        for _ in range(per_round // batch):
            pools = [sockets_in(fd, batch) for fd in fds]
            for i in range(batch):
                for k in ((0, 1) if i % 2 == 0 else (1, 0)):
                    c = pools[k][i]
                    t0 = time.perf_counter_ns()
                    c.connect(address)
                    if c.recv(1) != b"x":
                        raise RuntimeError("bad answer")
                    c.close()
                    times[k].append(time.perf_counter_ns() - t0)
        print(" ".join(f"{statistics.median(t) / 1000:.1f}" for t in times), flush=True)


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
    for size in sizes if not a["rate_only"] else []:
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
    measure_rate(a, setup, results)
    print(json.dumps(results), file=open(a["work"] + "/results.json", "w"))
    return results


def measure_rate(a, setup, results):
    """Connections/s through one mapped port, alone and as the last of many mappings. Two namespaces play two nodes of
    the same make, one with many mappings and one with a single one; one client alternates between them connection by
    connection, so the load of the rest of the machine falls on both alike; the roles swap halfway so neither node's
    luck counts. Per round (a few thousand connections each), the ratio of the median connection times; the verdict
    is the median over the rounds. The rate is 1 / the median time of one connection (one client, one at a time)."""
    nodes, pods, residents = a["nodes"], a["node_pods"], a["node_residents"]
    port = a["port_base"] + 10000
    servers = [subprocess.Popen(["nice", "-n", "-19", "ip", "netns", "exec", pod, sys.executable, __file__, "serve", "80"],
                                stdout=subprocess.PIPE) for pod in pods]
    try:
        for server in servers:
            server.stdout.readline()
        berth, portmap = setup.tracked(setup.berth_add), setup.tracked(setup.portmap_add)
        for name, add, many in [("berth-cni", berth, a["rate_mappings"]),
                                ("bridge+portmap", portmap, a["portmap_rate_mappings"])]:
            # one resident pod per node keeps the network's bridge and table between the phases
            resident_deletes = [add(f"rate-resident-{i}", residents[i], [], "eth9", node=node)[1]
                                for i, node in enumerate(nodes)]
            times = {"alone": [], "many": []}
            ratios = []
            for phase in range(2):
                crowded = phase  # node index that holds the many mappings in this phase
                deletes = []
                for i, node in enumerate(nodes):
                    count = many if i == crowded else 1
                    deletes.append(add(f"rate-{name.replace('+', '-')}-{phase}-{i}", pods[i],
                                       mappings(count, a["port_base"], port), node=node)[1])
                try:
                    time.sleep(1)  # the plugins' own work (a 10,000-element commit) is over before the clock starts
                    out = subprocess.run(["nice", "-n", "-19", sys.executable, __file__, "interleaved", str(port),
                                          str(a["rate_rounds"]), str(a["rate_connections"])] + nodes,
                                         capture_output=True, text=True, check=True).stdout
                    for line in out.split("\n"):
                        if not line.strip():
                            continue
                        pair = [float(x) for x in line.split()]
                        times["many"].append(pair[crowded])
                        times["alone"].append(pair[1 - crowded])
                        ratios.append(pair[1 - crowded] / pair[crowded])  # rate with many / rate alone
                        print(f"    round: {pair[1 - crowded]:7.1f} us alone, {pair[crowded]:7.1f} us with {many} "
                              f"({ratios[-1]:.3f})", flush=True)
                finally:
                    for delete in deletes:
                        delete()
            for delete in resident_deletes:
                delete()
            alone, crowded_rate = 1e6 / statistics.median(times["alone"]), 1e6 / statistics.median(times["many"])
            ratio = statistics.median(ratios)
            results["rate"][name] = {"mappings": many, "alone": alone, "with_many": crowded_rate, "ratio": ratio,
                                     "ratios": ratios, "times_us": times}
            print(f"  {name:17} connections/s through one port: {alone:7.0f} alone, {crowded_rate:7.0f} as the last of "
                  f"{many}; ratio {ratio:.3f} (median of {len(ratios)} rounds of {a['rate_connections']} interleaved "
                  f"connections per node, range {min(ratios):.3f}-{max(ratios):.3f})", flush=True)
    finally:
        for server in servers:
            server.kill()
            server.wait()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif sys.argv[1] == "interleaved":
        interleaved(int(sys.argv[2]), sys.argv[5:], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
