#!/usr/bin/env python3
"""Timing, memory and throughput measurements for bench/run.sh, and the final table.

run.sh owns everything with a lifetime (daemons, network namespace, bridges, firewall state, temp dirs); this file
only drives the docker CLI, curl and iperf3 against an engine that is already up, and always removes the containers
it started, also on failure or Ctrl-C. Every subcommand merges its figures into one results file (JSON) under a key
such as "berth.startup", and records a failure as {"error": ...} there instead of aborting the run: a figure that
could not be measured is a result too.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

MB = 1024 * 1024


# --------------------------------------------------------------------------------------------------------------
# small helpers

def now():
    return time.perf_counter()


def run(cmd, timeout=120, env=None):
    """Runs a command, never raises on a non-zero exit; a timeout is reported as exit code 124."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return 124, out, err + f"\n(timed out after {timeout} s)"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def merge(path, key, value):
    """results[key1][key2]... = value, written atomically so a Ctrl-C never leaves half a file."""
    data = load(path)
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def short(text, n=400):
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n] + "..."


class Docker:
    """The unmodified docker CLI pointed at one engine through DOCKER_HOST; the same client for both engines."""

    def __init__(self, cli, host, ids_file):
        self.cli, self.env, self.ids_file = cli, dict(os.environ, DOCKER_HOST=host), ids_file

    def __call__(self, *args, timeout=120):
        return run([self.cli, *args], timeout=timeout, env=self.env)

    def remember(self, cid):
        # run.sh's cleanup uses these ids to find leftovers (runc state, cgroups) if a removal fails.
        if cid and self.ids_file:
            with open(self.ids_file, "a") as f:
                f.write(cid + "\n")

    def rm(self, name, timeout=120):
        return self("rm", "-f", name, timeout=timeout)

    def container_ip(self, name):
        rc, out, _ = self("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
        return out.strip() if rc == 0 else ""


def curl_ok(url, max_time=2.0):
    """One `curl -sf` attempt: True when the web app answered with a 2xx."""
    rc, _, _ = run(["curl", "-sf", "-o", "/dev/null", "--connect-timeout", "1", "--max-time", str(max_time), url],
                   timeout=max_time + 5)
    return rc == 0


def wait_answer(url, deadline, interval=0.005):
    """Polls with curl every `interval` seconds until it answers; returns the perf_counter time or None."""
    while now() < deadline:
        if curl_ok(url):
            return now()
        time.sleep(interval)
    return None


def wait_silent(url, seconds=5.0):
    """After a removal: wait until the port stops answering, so the next run cannot be served by the last one."""
    deadline = now() + seconds
    while now() < deadline:
        if not curl_ok(url, max_time=0.5):
            return True
        time.sleep(0.05)
    return False


def status_kb(pid, field, path="status"):
    """A kB figure from /proc/PID/status (VmRSS) or /proc/PID/smaps_rollup (Pss); 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def rss_kb(pid):
    return status_kb(pid, "VmRSS")


def pss_kb(pid):
    # PSS divides shared pages between the processes sharing them: 2000 docker-proxy processes share one binary,
    # which their summed RSS counts 2000 times.
    return status_kb(pid, "Pss", "smaps_rollup")


def children_named(ppid, comm):
    """PIDs of the direct children of ppid called comm (dockerd's docker-proxy processes)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may contain spaces; the fields after it are fixed.
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid_field = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid_field == ppid and name == comm:
            pids.append(int(d))
    return pids


def engine_memory(pid, proxy_comm=None):
    """The daemon's memory plus its proxy children's (dockerd's docker-proxy), in kB."""
    proxies = children_named(pid, proxy_comm) if proxy_comm else []
    return {"daemon_rss_kb": rss_kb(pid), "rss_kb": rss_kb(pid) + sum(rss_kb(p) for p in proxies),
            "pss_kb": pss_kb(pid) + sum(pss_kb(p) for p in proxies), "proxies": len(proxies)}


def summary_ms(values):
    if not values:
        return {}
    return {"median_ms": round(statistics.median(values), 1), "min_ms": round(min(values), 1),
            "max_ms": round(max(values), 1), "runs_ms": [round(v, 1) for v in values]}


# --------------------------------------------------------------------------------------------------------------
# free host ports: the machine is shared, so never assume a port is free

def port_free(port):
    for fam, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def cmd_free_ports(a):
    """Prints the first port of a free block of `count` ports for each of `blocks`, blocks not overlapping."""
    found, port = [], a.start
    while len(found) < a.blocks and port + a.count - 1 <= a.end:
        if all(port_free(p) for p in range(port, port + a.count)):
            found.append(port)
        port += a.step if a.step else a.count
    if len(found) < a.blocks:
        sys.exit(f"no {a.blocks} free blocks of {a.count} ports in {a.start}-{a.end}")
    print(" ".join(map(str, found)))


# --------------------------------------------------------------------------------------------------------------
# a. docker run -d -p → first successful curl

class StartupSeries:
    """One engine's runs of `docker run -d -p PORT:80` until curl answers."""

    def __init__(self, a, name, host, port):
        self.name, self.port = name, int(port)
        self.d = Docker(a.docker, host, os.path.join(a.ids_dir, f"ids.{name}"))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.prefix, self.image, self.timeout = f"{a.prefix}-{name}", a.image, a.timeout
        # --by-address: no -p; the answer is awaited at the container's own address (one `docker inspect` included).
        self.by_address = a.by_address
        self.times, self.run_times, self.rm_times, self.floor, self.errors = [], [], [], [], []

    def cli_floor(self):
        # The client's own share: a docker CLI round trip that does no work (process start, /_ping, /version).
        t0 = now()
        if self.d("version", "--format", "{{.Server.Version}}")[0] == 0:
            self.floor.append((now() - t0) * 1000)

    def once(self, i, counted):
        name = f"{self.prefix}-{'addr' if self.by_address else 'start'}{i}"
        url = self.url
        try:
            t0 = now()
            publish = [] if self.by_address else ["-p", f"{self.port}:80"]
            rc, out, err = self.d("run", "-d", "--name", name, *publish, self.image, timeout=120)
            t_run = now()
            if rc != 0:
                self.errors.append(f"run {i}: docker run failed: {short(err)}")
                return
            self.d.remember(out.strip())
            if self.by_address:
                url = f"http://{self.d.container_ip(name)}/"
            t_ok = wait_answer(url, t0 + self.timeout)
            if t_ok is None:
                self.errors.append(f"run {i}: no answer on {self.url} within {self.timeout} s")
                return
            if counted:
                self.times.append((t_ok - t0) * 1000)
                self.run_times.append((t_run - t0) * 1000)
        finally:
            t_rm = now()
            rc, _, err = self.d.rm(name)
            if counted and rc == 0:
                self.rm_times.append((now() - t_rm) * 1000)
            if not wait_silent(url):
                self.errors.append(f"run {i}: {url} still answers after docker rm -f")

    def result(self, runs, warmup):
        med = lambda xs: round(statistics.median(xs), 1) if xs else None
        r = {"port": self.port, "runs": runs, "warmup": warmup, **summary_ms(self.times),
             "cli_return_median_ms": med(self.run_times), "rm_median_ms": med(self.rm_times),
             "cli_floor_median_ms": med(self.floor)}
        if self.errors:
            r["errors"] = self.errors
        if not self.times:
            r["error"] = self.errors[0] if self.errors else "no successful run"
        return r


def cmd_startup(a):
    """Runs of all engines interleaved (and their order alternated), so load from other work on a shared machine
    falls on every engine alike and the ratio between them holds even when the absolute figures drift."""
    series = [StartupSeries(a, *e) for e in a.engine]
    for _ in range(5):
        for s in series:
            s.cli_floor()
    for i in range(a.warmup + a.runs):
        counted = i >= a.warmup          # the first run warms caches (image layers, page cache) and is not counted
        for s in (series if i % 2 == 0 else series[::-1]):
            s.once(i, counted)
    for s in series:
        r = s.result(a.runs, a.warmup)
        key = "address_startup" if a.by_address else "startup"
        merge(a.out, f"{s.name}.{key}", r)
        print(f"  {s.name}.{key}: " + (f"median {r['median_ms']} ms (min {r['min_ms']}, max {r['max_ms']}), "
                                         f"{len(s.errors)} error(s)" if s.times else f"FAILED: {r['error']}"))


# --------------------------------------------------------------------------------------------------------------
# b. a 1000-port range

def cmd_range(a):
    d = Docker(a.docker, a.host, a.ids)
    name = f"{a.prefix}-range"
    last = a.first + a.count - 1
    spec = f"{a.first}-{last}:80-{80 + a.count - 1}"
    url = f"http://127.0.0.1:{a.first}/"
    result = {"spec": spec, "ports": a.count}
    before = engine_memory(a.pid, a.proxy_comm)
    result["memory_before"] = before
    print(f"  {a.key}: docker run -d -p {spec} (timeout {a.timeout} s)...", flush=True)
    try:
        t0 = now()
        rc, out, err = d("run", "-d", "--name", name, "-p", spec, a.image, timeout=a.timeout)
        t_run = now()
        result["cli_return_s"] = round(t_run - t0, 3)
        if rc != 0:
            result["error"] = f"docker run -d -p {spec} failed (exit {rc}): {short(err)}"
        else:
            d.remember(out.strip())
            t_ok = wait_answer(url, t0 + a.timeout)
            if t_ok is None:
                result["error"] = f"{url} did not answer within {a.timeout} s"
            else:
                result["up_s"] = round(t_ok - t0, 3)
                # Memory right after answering and once more after things settled; growth uses the larger one.
                m1 = engine_memory(a.pid, a.proxy_comm)
                time.sleep(2)
                m2 = engine_memory(a.pid, a.proxy_comm)
                after = {k: max(m1[k], m2[k]) for k in m1}
                result["memory_after"] = after
                result["proxies_after"] = after["proxies"]
                for k, label in (("rss_kb", "rss_growth_mb"), ("pss_kb", "pss_growth_mb"),
                                 ("daemon_rss_kb", "daemon_rss_growth_mb")):
                    result[label] = round((after[k] - before[k]) / 1024, 1)
                rc, out, _ = d("inspect", "-f", "{{len .NetworkSettings.Ports}}", name)
                if rc == 0 and out.strip().isdigit():
                    result["published_ports_reported"] = int(out.strip())
    finally:
        print(f"  {a.key}: docker rm -f (timeout {a.timeout} s)...", flush=True)
        t_rm = now()
        rc, _, err = d.rm(name, timeout=a.timeout)
        if rc == 0:
            result["rm_s"] = round(now() - t_rm, 3)
        else:
            result["rm_error"] = f"docker rm -f failed (exit {rc}): {short(err)}"
        result["still_answers_after_rm"] = not wait_silent(url)
        result["memory_after_rm"] = engine_memory(a.pid, a.proxy_comm)
    merge(a.out, a.key, result)
    if "error" in result:
        print(f"  {a.key}: FAILED: {result['error']}")
    else:
        print(f"  {a.key}: up {result['up_s']} s, RSS +{result['rss_growth_mb']} MB, PSS +{result['pss_growth_mb']} MB "
              f"({result['proxies_after']} proxies), rm -f {result.get('rm_s', 'failed')} s")


# --------------------------------------------------------------------------------------------------------------
# c. iperf3: direct to the container address vs through the published port, from the host and from a neighbour

TESTS = ("loopback-direct", "loopback-published", "neighbour-direct", "neighbour-published")


def iperf_once(prefix, host, port, secs):
    """One iperf3 client run; returns (Gbit/s, None) or (None, error)."""
    cmd = prefix + ["iperf3", "-c", host, "-p", str(port), "-t", str(secs), "-J", "--connect-timeout", "3000"]
    for attempt in range(3):
        rc, out, err = run(cmd, timeout=secs + 20)
        try:
            j = json.loads(out)
        except json.JSONDecodeError:
            j = {}
        received = j.get("end", {}).get("sum_received", {}).get("bits_per_second")
        if rc == 0 and received:
            return received / 1e9, None
        msg = j.get("error") or short(err) or f"exit {rc}"
        if "busy" in msg and attempt < 2:      # the server has not finished with the previous client yet
            time.sleep(1)
            continue
        return None, msg
    return None, msg


def cmd_iperf(a):
    d = Docker(a.docker, a.host, a.ids)
    name = f"{a.prefix}-{a.tag}"
    tests = [t for t in a.tests.split(",") if t]
    result = {"seconds": a.secs, "reps": a.reps}
    try:
        rc, out, err = d("run", "-d", "--name", name, "-p", f"{a.port}:5201", a.image)
        if rc != 0:
            raise RuntimeError(f"docker run -p {a.port}:5201 failed: {short(err)}")
        d.remember(out.strip())
        ip = d.container_ip(name)
        if not ip:
            raise RuntimeError("no container address from docker inspect")
        result["container_ip"] = ip
        deadline = now() + 10
        while now() < deadline:             # iperf3 prints this line once its socket listens
            if "Server listening" in d("logs", name)[1]:
                break
            time.sleep(0.05)
        ns = ["ip", "netns", "exec", a.netns] if a.netns else None
        where = {"loopback-direct": ([], ip, 5201), "loopback-published": ([], "127.0.0.1", a.port),
                 "neighbour-direct": (ns, ip, 5201), "neighbour-published": (ns, a.neighbour_host, a.port)}
        samples = {t: [] for t in tests}
        by_rep = {t: [] for t in tests}     # one entry per repetition, None when it failed
        errors = {t: [] for t in tests}
        for rep in range(a.reps):           # interleaved, so drift on a shared machine hits both paths alike
            for t in tests:
                prefix, host, port = where[t]
                if errors[t] and not samples[t] and "connect" in errors[t][-1]:
                    by_rep[t].append(None)       # refused or dropped once: it will be again, save the time
                    continue
                if prefix is None:
                    errors[t].append(a.netns_error or "no neighbour namespace")
                    by_rep[t].append(None)
                    continue
                gbps, e = iperf_once(prefix, host, port, a.secs)
                by_rep[t].append(gbps)
                if gbps is None:
                    errors[t].append(e)
                    print(f"  {a.key}: {t} -> {host}:{port} FAILED: {e}", flush=True)
                else:
                    samples[t].append(gbps)
                    print(f"  {a.key}: {t} -> {host}:{port} {gbps:.2f} Gbit/s", flush=True)
        for t in tests:
            entry = {"target": f"{where[t][1]}:{where[t][2]}"}
            if samples[t]:
                entry["gbps"] = round(statistics.median(samples[t]), 2)
                entry["best_gbps"] = round(max(samples[t]), 2)
                entry["samples_gbps"] = [round(x, 2) for x in samples[t]]
            if errors[t]:
                entry["errors"] = sorted(set(errors[t]))
                if not samples[t]:
                    entry["error"] = errors[t][0]
            result[t] = entry
        for loc in ("loopback", "neighbour"):
            # The ratio of each repetition's pair (measured back to back), then the median: load from other
            # processes on a shared machine drifts over minutes and would otherwise bias one path.
            pairs = [p / d for d, p in zip(by_rep.get(f"{loc}-direct", []), by_rep.get(f"{loc}-published", []))
                     if d and p]
            if pairs:
                result[f"{loc}_pair_ratio_median"] = round(statistics.median(pairs), 3)
                result[f"{loc}_pair_ratios"] = [round(x, 3) for x in pairs]
            # The judged ratio: best published / best direct. Other work on a shared machine only ever lowers a
            # sample, so the best of several is the closest to what the path can carry.
            direct, pub = result.get(f"{loc}-direct", {}), result.get(f"{loc}-published", {})
            if direct.get("best_gbps") and pub.get("best_gbps"):
                result[f"{loc}_ratio"] = round(pub["best_gbps"] / direct["best_gbps"], 3)
    except Exception as e:  # noqa: BLE001 - any failure is a result to report, the run goes on
        result["error"] = str(e)
        print(f"  {a.key}: FAILED: {e}")
    finally:
        d.rm(name)
    merge(a.out, a.key, result)


# --------------------------------------------------------------------------------------------------------------
# the table

def fmt(v, unit="", digits=1):
    if v is None:
        return "-"
    return f"{v:.{digits}f}{unit}"


def failures_in(node, path):
    """Every recorded failure, as 'path: message', wherever it sits in the results."""
    out = []
    if isinstance(node, dict):
        for k in ("error", "rm_error"):
            if k in node:
                out.append(f"{path}: {node[k]}")
        if node.get("still_answers_after_rm"):
            out.append(f"{path}: the port still answers after docker rm -f")
        for k, v in node.items():
            if isinstance(v, dict):
                out += failures_in(v, f"{path}.{k}")
    return out


def cmd_report(a):
    r = load(a.results)
    meta = r.get("meta", {})
    b, dk = r.get("berth", {}), r.get("dockerd", {})
    rows, footnotes = [], []   # rows: (figure, Berth, dockerd, ratio or verdict, target)

    def cell(section, field, digits=1):
        """A figure, or why there is none: skipped (not measured), FAILED (measured, failed)."""
        if not section:
            return "skipped"
        if section.get(field) is not None:
            return fmt(section[field], digits=digits)
        return "FAILED" if "error" in section else "-"

    def verdict(ok):
        return "ok" if ok else "MISSED"

    # a. docker run -d -p → first answer
    bs, ds = b.get("startup", {}), dk.get("startup", {})
    ratio = bs["median_ms"] / ds["median_ms"] if bs.get("median_ms") and ds.get("median_ms") else None
    rows.append(("run -d -p → curl answers, median ms", cell(bs, "median_ms"), cell(ds, "median_ms"),
                 f"{ratio:.3f} {verdict(ratio <= 0.33)}" if ratio is not None else "-", "Berth/dockerd ≤ 0.33"))
    minmax = lambda sec: f"{cell(sec, 'min_ms')} / {cell(sec, 'max_ms')}" if sec.get("min_ms") else cell(sec, "min_ms")
    rows.append(("  min / max ms", minmax(bs), minmax(ds), "", ""))
    rows.append(("  docker run -d returned, median ms", cell(bs, "cli_return_median_ms"),
                 cell(ds, "cli_return_median_ms"), "", ""))
    rows.append(("  docker rm -f, median ms", cell(bs, "rm_median_ms"), cell(ds, "rm_median_ms"), "", ""))
    rows.append(("  docker version (CLI floor), median ms", cell(bs, "cli_floor_median_ms"),
                 cell(ds, "cli_floor_median_ms"), "", ""))

    ba, da = b.get("address_startup", {}), dk.get("address_startup", {})
    if ba or da:
        aratio = ba["median_ms"] / da["median_ms"] if ba.get("median_ms") and da.get("median_ms") else None
        rows.append(("run -d → answers at its address, median ms", cell(ba, "median_ms"), cell(da, "median_ms"),
                     f"{aratio:.3f}" if aratio is not None else "-", "(issue 2 figure)"))

    # b. 1000-port range
    br, dr = b.get("range", {}), dk.get("range", {})

    def ratio_of(field):
        if br.get(field) is not None and dr.get(field):
            return f"{br[field] / dr[field]:.3f}"
        return "-"

    rows.append(("1000 ports: up and answering, s", cell(br, "up_s", 2), cell(dr, "up_s", 2),
                 f"{ratio_of('up_s')} {verdict(br['up_s'] < 1)}".lstrip("- ") if "up_s" in br else "-", "Berth < 1 s"))
    rows.append(("1000 ports: RSS growth (daemon+proxies), MB", cell(br, "rss_growth_mb"), cell(dr, "rss_growth_mb"),
                 f"{ratio_of('rss_growth_mb')} {verdict(br['rss_growth_mb'] < 64)}".lstrip("- ") if "rss_growth_mb" in br else "-",
                 "Berth < 64 MB"))
    rows.append(("  PSS growth (shared pages once), MB", cell(br, "pss_growth_mb"), cell(dr, "pss_growth_mb"), "", ""))
    rows.append(("  daemon alone, RSS growth, MB", cell(br, "daemon_rss_growth_mb"),
                 cell(dr, "daemon_rss_growth_mb"), "", ""))
    rows.append(("  docker-proxy processes", cell(br, "proxies_after", 0), cell(dr, "proxies_after", 0), "", ""))
    rows.append(("1000 ports: docker rm -f, s", cell(br, "rm_s", 2), cell(dr, "rm_s", 2),
                 f"{ratio_of('rm_s')} {verdict(br['rm_s'] < 1)}".lstrip("- ") if "rm_s" in br else "-", "Berth < 1 s"))

    # c. iperf3: median and best of the repetitions; the ratio uses the best (see cmd_iperf)
    bi, di = b.get("iperf", {}), dk.get("iperf", {})

    def gbps(sec, t):
        if not sec:
            return "skipped"
        e = sec.get(t, sec)
        if e.get("gbps") is not None:
            return f"{e['gbps']:.2f} (best {e.get('best_gbps', e['gbps']):.2f})"
        return "FAILED" if "error" in e else "-"

    for loc in ("loopback", "neighbour"):
        for kind in ("direct", "published"):
            t = f"{loc}-{kind}"
            rows.append((f"iperf3 {loc} → {kind}, Gbit/s median", gbps(bi, t), gbps(di, t), "", ""))
        bratio, dratio, mark = bi.get(f"{loc}_ratio"), di.get(f"{loc}_ratio"), ""
        if bratio is None and bi.get(f"{loc}-published", {}).get("best_gbps") \
                and di.get(f"{loc}-direct", {}).get("best_gbps"):
            # Berth refuses routed traffic to a container address; the same kernel path measured on dockerd's
            # bridge is the nearest baseline.
            bratio = bi[f"{loc}-published"]["best_gbps"] / di[f"{loc}-direct"]["best_gbps"]
            mark = " *"
            footnotes.append(f"* Berth {loc}: its direct path failed; ratio taken against dockerd's {loc} direct")
        elif bratio is None and "error" in bi.get(f"{loc}-direct", {}):
            footnotes.append(f"Berth {loc}: no direct baseline (the direct path failed, see below) and no dockerd "
                             "figure to stand in for it")
        rows.append((f"  {loc}: published/direct (best/best)",
                     (fmt(bratio, digits=3) + mark) if bratio is not None else "-",
                     fmt(dratio, digits=3) if dratio is not None else "-",
                     verdict(bratio >= 0.95) if bratio is not None else "-", "Berth ≥ 0.95"))
        bp, dp = bi.get(f"{loc}_pair_ratio_median"), di.get(f"{loc}_pair_ratio_median")
        if bp is not None or dp is not None:
            rows.append((f"  {loc}: published/direct, median of pairs", fmt(bp, digits=3), fmt(dp, digits=3), "", ""))

    # Berth next to dockerd
    co = b.get("with_dockerd", {})
    for variant, label in (("as_is", f"FORWARD {meta.get('forward_policy_with_dockerd', '?')} as dockerd left it"),
                           ("forward_drop", "FORWARD DROP")):
        sec = co.get(variant)
        if not sec:
            continue
        for t in ("loopback-published", "neighbour-published"):
            e = sec.get(t, {})
            rows.append((f"Berth {t}, dockerd up, {label}", fmt(e.get("gbps"), " Gbit/s", 2) if "gbps" in e
                         else "FAILED", "", verdict("gbps" in e), "must work"))

    header = ("figure", "Berth", "dockerd", "ratio / verdict", "target")
    w = [max(len(str(row[i])) for row in rows + [header]) for i in range(5)]

    def line(row):
        return "  ".join(str(c).ljust(w[i]) if i in (0, 3, 4) else str(c).rjust(w[i]) for i, c in enumerate(row)).rstrip()

    print()
    print(f"Berth {meta.get('berth_commit', '?')} vs {meta.get('dockerd_version', 'dockerd: skipped')}; client "
          f"{meta.get('docker_cli', '?')}; {meta.get('cpus', '?')} CPUs, kernel {meta.get('kernel', '?')}; "
          f"{meta.get('date', '')}")
    opts = meta.get("options", {})
    print(f"{opts.get('runs', '?')} runs (+1 warm-up) per engine; iperf3 {opts.get('iperf_secs', '?')} s x "
          f"{opts.get('iperf_reps', '?')} per path, interleaved; load average "
          f"at start {meta.get('loadavg_start', '?')}, at end {meta.get('loadavg_end', '?')} "
          f"(other work on the machine skews timings and throughput)")
    print(line(header))
    print(line(tuple("-" * x for x in w)))
    for row in rows:
        print(line(row))
    for f in footnotes:
        print(f)
    for n in r.get("notes", []):
        print("note: " + n)
    failures = failures_in(b, "berth") + failures_in(dk, "dockerd")
    if failures:
        print("\nFailures recorded:")
        for f in failures:
            print("  - " + f)


def cmd_meta(a):
    merge(a.out, f"meta.{a.name}", json.loads(a.value) if a.json else a.value)


def cmd_note(a):
    data = load(a.out)
    data.setdefault("notes", []).append(a.text)
    merge(a.out, "notes", data["notes"])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    def engine_args(s):
        s.add_argument("--docker", required=True, help="path of the docker CLI")
        s.add_argument("--host", required=True, help="DOCKER_HOST of the engine")
        s.add_argument("--image", required=True)
        s.add_argument("--prefix", required=True, help="container name prefix, unique to this run")
        s.add_argument("--ids", help="file to append created container ids to")
        s.add_argument("--out", required=True, help="results JSON file")
        s.add_argument("--key", required=True, help="where in the results, e.g. berth.startup")

    s = sub.add_parser("free-ports")
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--blocks", type=int, default=1)
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--end", type=int, required=True)
    s.add_argument("--step", type=int, default=0)
    s.set_defaults(fn=cmd_free_ports)

    s = sub.add_parser("startup")
    s.add_argument("--docker", required=True, help="path of the docker CLI")
    s.add_argument("--engine", nargs=3, action="append", required=True, metavar=("NAME", "DOCKER_HOST", "PORT"),
                   help="an engine to measure (repeatable; runs are interleaved)")
    s.add_argument("--image", required=True)
    s.add_argument("--prefix", required=True, help="container name prefix, unique to this run")
    s.add_argument("--ids-dir", required=True, help="where ids.NAME files of created container ids go")
    s.add_argument("--out", required=True, help="results JSON file")
    s.add_argument("--runs", type=int, default=7)
    s.add_argument("--warmup", type=int, default=1)
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--by-address", action="store_true", help="no -p: wait for the answer at the container's address")
    s.set_defaults(fn=cmd_startup)

    s = sub.add_parser("range")
    engine_args(s)
    s.add_argument("--first", type=int, required=True)
    s.add_argument("--count", type=int, default=1000)
    s.add_argument("--pid", type=int, required=True, help="the daemon's pid, for VmRSS")
    s.add_argument("--proxy-comm", help="count and add the RSS of the daemon's children with this name")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(fn=cmd_range)

    s = sub.add_parser("iperf")
    engine_args(s)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--tag", default="iperf")
    s.add_argument("--netns", default="")
    s.add_argument("--netns-error", default="")
    s.add_argument("--neighbour-host", default="192.168.33.2")
    s.add_argument("--secs", type=int, default=5)
    s.add_argument("--reps", type=int, default=1)
    s.add_argument("--tests", default=",".join(TESTS))
    s.set_defaults(fn=cmd_iperf)

    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("meta")
    s.add_argument("--out", required=True)
    s.add_argument("--json", action="store_true")
    s.add_argument("name")
    s.add_argument("value")
    s.set_defaults(fn=cmd_meta)

    s = sub.add_parser("note")
    s.add_argument("--out", required=True)
    s.add_argument("text")
    s.set_defaults(fn=cmd_note)

    a = p.parse_args()
    try:
        a.fn(a)
    except KeyboardInterrupt:
        # Ctrl-C: the finally blocks removed our containers. Die of SIGINT rather than exit(130): bash only stops
        # (and runs run.sh's cleanup) when its child was killed by the signal, not when it exited on its own.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


if __name__ == "__main__":
    main()
