#!/usr/bin/env python3
"""pgbench through pgsluice, through PgBouncer, and directly against PostgreSQL, in one run.

Starts its own PostgreSQL 15, PgBouncer (Debian's package) and pgsluice on free ports, all
with pool size 20 in transaction mode, and for each point (mode x clients) measures, over a
window after every client has connected (taken from pgbench's -P 1 progress lines):
  - TPS and mean latency,
  - the proxy's CPU microseconds per transaction (user+sys from /proc/PID/stat),
then the proxy's resident memory per idle client with N idle clients connected.
Prints a Markdown table and the pgsluice/PgBouncer ratios. Standard library only.

Every point runs --repeat times (default 2), the targets interleaved, since one point can
swing 30% between runs on a small machine; the ratio table shows each repetition's ratio.
A 5-second pgbench on each target comes first and is not measured. The proxies take turns
going first (pgsluice in odd repetitions, PgBouncer in even ones): the first run of a point
follows the last of the point before (1000 clients closing), and whichever proxy always went
first would always meet that.

usage: tests/bench/bench.py [--quick] [--repeat N] [--build DIR] [--seconds N]
       [--workloads simple,extended,prepared,tpcb] [--clients 16,256] [--no-logins] [--no-memory] [--no-direct]
       [--tls] [--floor]

--tls puts the client side on TLS: both proxies get client_tls_sslmode require with the same
certificate and key (EC P-256, made here with openssl), pgbench connects with
PGSSLMODE=require, and the run is select -M simple at 16 and 256 clients (unless
--workloads / --clients say otherwise), the login measurement (each login a TLS handshake
plus SCRAM) and idle memory with TLS clients. PostgreSQL itself stays plaintext, so there is
no direct target.

`prepared` (pgbench -S -M prepared: named prepared statements) runs through pgsluice and
directly; PgBouncer 1.18 (Debian's) cannot keep named statements in transaction mode, so it
is measured with -M extended only, and a last table sets pgsluice prepared against pgsluice
extended and PgBouncer extended from the same run.
--floor adds a bare TCP relay (bare_relay.c, compiled here with cc) as a target: one recv and
one send per message, a PostgreSQL connection per client, nothing parsed or pooled. Its CPU
per transaction is what moving the bytes through any user-space process costs on this
machine, the floor under both poolers; a last table sets it beside pgsluice, both as ratios
to PgBouncer. Like the direct target, it runs only up to 300 clients (one backend each).

The narrowing options are for working on one point; the table in the README comes from a
full run.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "bench-pw"
POOL_SIZE = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def as_postgres(cmd, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + cmd, check=True, **kw)


class Postgres:
    def __init__(self, work):
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        shutil.chown(work, "postgres")
        shutil.chown(self.dir, "postgres")
        pw = os.path.join(self.dir, "pw")
        open(pw, "w").write(PASSWORD)
        shutil.chown(pw, "postgres")
        as_postgres([f"{PG_BIN}/initdb", "-D", self.dir + "/data", "-U", "postgres", "--auth=scram-sha-256",
                     f"--pwfile={pw}", "--no-sync"], stdout=subprocess.DEVNULL)
        self.port = free_port()
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-o",
                     f"-p {self.port} -k {self.dir} -c fsync=off -c synchronous_commit=off "
                     f"-c max_connections=400 -c shared_buffers=128MB", "start"], stdout=subprocess.DEVNULL)

    def stop(self):
        as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.dir + "/data", "-m", "immediate", "stop"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --timeouts: the production timeouts the data-path issue measures, the same on both poolers.
TIMEOUTS = False
WORKERS = 0  # --workers: pgsluice's worker threads (0: one per core)
# --tls: (certificate, key) both proxies present to clients, which connect with sslmode=require.
TLS = None
IDLE_AFTER_QUERY = False  # --idle-after-query: each idle client runs one query first


def make_certificate(work):
    """A self-signed EC P-256 certificate for localhost / 127.0.0.1, readable by postgres."""
    d = os.path.join(work, "tls")
    os.makedirs(d)
    cert, key = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-sha256", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for f in (d, cert, key):
        shutil.chown(f, "postgres")  # PgBouncer reads them after dropping to user postgres
    return cert, key


def negotiated(port):
    """What a TLS client gets from the proxy on `port`: "TLSv1.3 TLS_AES_256_GCM_SHA384"."""
    out = subprocess.run(["openssl", "s_client", "-starttls", "postgres", "-connect", f"127.0.0.1:{port}"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20).stdout
    protocol = re.search(r"Protocol *: *(\S+)", out) or re.search(r"New, (\S+), Cipher", out)
    cipher = re.search(r"Cipher *(?:is|:) *(\S+)", out)
    return f"{protocol.group(1) if protocol else '?'} {cipher.group(1) if cipher else '?'}"


def client_env():
    """pgbench's environment: the password, and TLS with --tls."""
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    if TLS:
        env["PGSSLMODE"] = "require"
    return env


def start_pgbouncer(work, pg_port, max_clients, suffix=""):
    d = os.path.join(work, "pgbouncer" + suffix)
    os.makedirs(d)
    port = free_port()
    open(f"{d}/users.txt", "w").write(f'"postgres" "{PASSWORD}"\n')
    open(f"{d}/pgbouncer.ini", "w").write(f"""[databases]
bench = host=127.0.0.1 port={pg_port} dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {d}/users.txt
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = {max_clients + 100}
logfile = {d}/pgbouncer.log
user = postgres
""" + ("query_timeout = 30\nidle_transaction_timeout = 60\n" if TIMEOUTS else "")
      + (f"client_tls_sslmode = require\nclient_tls_cert_file = {TLS[0]}\nclient_tls_key_file = {TLS[1]}\n"
         if TLS else ""))
    shutil.chown(d, "postgres")
    for f in os.listdir(d):
        shutil.chown(os.path.join(d, f), "postgres")
    # Started as root, it drops to `user = postgres` itself and keeps the descriptor limit
    # raised in main() (runuser's PAM session would reset it to 1024 and cap the idle test).
    proc = subprocess.Popen(["pgbouncer", f"{d}/pgbouncer.ini"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, proc.pid, port


def each_ratio(runs, against, field):
    """One ratio per repetition, "a / b / ...": field `field` of `runs` over that of `against`."""
    return " / ".join(f"{x[field] / y[field]:.2f}" if y[field] else "-" for x, y in zip(runs, against))


def start_bare_relay(work, pg_port):
    """Compiles bare_relay.c and starts it in front of PostgreSQL (--floor)."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_relay.c")
    binary = os.path.join(work, "bare_relay")
    subprocess.run(["cc", "-O2", "-o", binary, source], check=True)
    port = free_port()
    proc = subprocess.Popen([binary, str(port), str(pg_port)], stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc, proc.pid, port


def start_pgsluice(work, binary, pg_port, max_clients, suffix=""):
    d = os.path.join(work, "pgsluice" + suffix)
    os.makedirs(d)
    port = free_port()
    open(f"{d}/pgsluice.yaml", "w").write(f"""listen: {{address: 127.0.0.1, port: {port}}}
metrics: {{enabled: false}}
log_level: warn
{f"workers: {WORKERS}" if WORKERS else ""}
limits: {{max_client_conn: {max_clients + 100}}}
defaults: {{pool_mode: transaction, pool_size: {POOL_SIZE}{", query_timeout: 30s, idle_transaction_timeout: 60s" if TIMEOUTS else ""}}}
databases:
  bench: {{host: 127.0.0.1, port: {pg_port}, dbname: postgres}}
users:
  postgres: {{password: {{env: BENCH_PASSWORD}}}}
""" + (f"client_tls_sslmode: require\nclient_tls_cert_file: {TLS[0]}\nclient_tls_key_file: {TLS[1]}\n"
       if TLS else ""))
    env = dict(os.environ, BENCH_PASSWORD=PASSWORD)
    proc = subprocess.Popen([binary, "run", "-c", f"{d}/pgsluice.yaml"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(f"{d}/pgsluice.log", "w"))
    wait_port(port)
    return proc, proc.pid, port


def pgbench(port, dbname, args, clients, seconds, proxy_pid):
    """Runs pgbench; returns (tps, latency_ms, cpu_us_per_tx) over the window after connect."""
    threads = min(clients, 8)
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n", "-P", "1",
           "-c", str(clients), "-j", str(threads), "-T", str(seconds)] + args + [dbname]
    env = client_env()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples = []  # (time, cpu seconds, tps, latency) per progress line
    for line in proc.stdout:
        m = re.match(r"progress: ([\d.]+) s, ([\d.]+) tps, lat ([\d.]+) ms", line)
        if m:
            cpu = cpu_seconds(proxy_pid) if proxy_pid else 0.0
            samples.append((float(m.group(1)), cpu, float(m.group(2)), float(m.group(3))))
    proc.wait()
    # The window: progress lines after the first full second with transactions, minus the last.
    active = [s for s in samples if s[2] > 0]
    window = active[1:-1] if len(active) > 3 else active
    if len(window) < 2:
        return 0.0, 0.0, 0.0
    tps = sum(s[2] for s in window[1:]) / (len(window) - 1)
    latency = sum(s[3] for s in window[1:]) / (len(window) - 1)
    transactions = sum(s[2] for s in window[1:])  # each line covers one second
    cpu = window[-1][1] - window[0][1]
    cpu_us = cpu / transactions * 1e6 if transactions and proxy_pid else 0.0
    return tps, latency, cpu_us


def rss_parts_kib(pid):
    """Resident memory by kind: anonymous (the heap, stacks) and file-backed (code and data
    of the binary and its libraries, paged in when first used)."""
    parts = {}
    for line in open(f"/proc/{pid}/status"):
        for key in ("RssAnon", "RssFile"):
            if line.startswith(key + ":"):
                parts[key] = int(line.split()[1])
    return parts


def idle_memory(port, proxy_pid, clients):
    """RSS growth of the proxy per idle client, with `clients` connected and idle (on TLS
    with --tls: each holds its own TLS session with the proxy), and the same split into
    anonymous and file-backed memory."""
    env = client_env()
    # A few logins and transactions first: the code they run is paged in once, for the
    # process's life (about 1 MB of pgsluice's and its libraries', 200 B over 5,000
    # clients), and is not what a client costs.
    subprocess.run(["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n", "-S",
                    "-c", "8", "-j", "8", "-t", "20", "bench"],
                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    time.sleep(2)  # pgsluice gives free heap pages back once a second
    before = rss_kib(proxy_pid)
    parts_before = rss_parts_kib(proxy_pid)
    script = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    # (With --idle-after-query, a client that ran a transaction and went idle: whatever it
    # used on the way, TLS buffers included, must have been given back.)
    script.write(("select 1;\n" if IDLE_AFTER_QUERY else "") + "\\sleep 600 s\n")  # far longer than the measurement: pgbench is stopped below
    script.close()
    proc = subprocess.Popen(["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-n",
                             "-c", str(clients), "-j", "8", "-T", "600", "-f", script.name, "bench"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240  # thousands of SCRAM logins take a while on two cores
    established = 0
    while time.time() < deadline and proc.poll() is None:
        out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        established = len(out.splitlines())
        if established >= clients:
            break
        time.sleep(0.5)
    time.sleep(2)
    during = rss_kib(proxy_pid)
    parts_during = rss_parts_kib(proxy_pid)
    proc.terminate()  # SIGTERM: a pgbench started in the background may ignore SIGINT
    proc.wait()
    os.unlink(script.name)
    per_kind = {key: (parts_during[key] - parts_before[key]) * 1024 / max(established, 1) for key in parts_before}
    return (during - before) * 1024 / max(established, 1), established, per_kind


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer points, shorter runs")
    parser.add_argument("--build", default="build-release", help="build directory with cmd/pgsluice")
    parser.add_argument("--repeat", type=int, default=2, help="runs of every point (interleaved)")
    parser.add_argument("--memory-only", action="store_true", help="only the idle-memory measurement")
    parser.add_argument("--idle-after-query", action="store_true",
                        help="idle clients run one query before they idle (memory measurement)")
    parser.add_argument("--workloads", help="comma-separated subset of simple,extended,prepared,tpcb")
    parser.add_argument("--seconds", type=int, help="length of each point (default 15, 8 with --quick)")
    parser.add_argument("--clients", help="comma-separated client counts (default 16,256,1000)")
    parser.add_argument("--no-logins", action="store_true", help="skip the login measurement")
    parser.add_argument("--no-memory", action="store_true", help="skip the idle-memory measurement")
    parser.add_argument("--no-direct", action="store_true", help="skip pgbench straight to PostgreSQL")
    parser.add_argument("--timeouts", action="store_true",
                        help="query_timeout 30s and idle_transaction_timeout 60s on both poolers")
    parser.add_argument("--tls", action="store_true",
                        help="clients on TLS (sslmode=require) to both proxies; select simple at 16 and 256 clients")
    parser.add_argument("--floor", action="store_true",
                        help="also measure a bare TCP relay (the floor of any proxy) up to 300 clients")
    parser.add_argument("--workers", type=int, default=0, help="pgsluice's worker threads (default: one per core)")
    args = parser.parse_args()
    if args.floor and args.tls:
        parser.error("--floor relays plaintext to PostgreSQL, which has no TLS here: drop --tls")
    global TIMEOUTS, TLS, WORKERS, IDLE_AFTER_QUERY
    TIMEOUTS = args.timeouts
    WORKERS = args.workers
    IDLE_AFTER_QUERY = args.idle_after_query
    if args.tls:
        args.no_direct = True  # PostgreSQL is not set up for TLS here
        args.workloads = args.workloads or "simple"
        args.clients = args.clients or "16,256"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    binary = os.path.join(repo, args.build, "cmd", "pgsluice")
    if not os.path.exists(binary):
        sys.exit(f"{binary} not found: build Release first (cmake -B {args.build} -DCMAKE_BUILD_TYPE=Release)")
    seconds = args.seconds or (8 if args.quick else 15)
    client_counts = [16, 256] if args.quick else [16, 256, 1000]
    if args.clients:
        client_counts = [int(c) for c in args.clients.split(",")]
    idle_clients = 1000 if args.quick else 5000
    # Thousands of clients: every process started from here inherits this limit.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard), hard))

    work = tempfile.mkdtemp(prefix="pgsluice-bench-")
    pg = Postgres(work)
    if args.tls:
        TLS = make_certificate(work)
    procs = []
    try:
        env = dict(os.environ, PGPASSWORD=PASSWORD)  # straight to PostgreSQL: never TLS
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
                        "postgres"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bouncer, bouncer_pid, bouncer_port = start_pgbouncer(work, pg.port, max(idle_clients, 1000))
        sluice, sluice_pid, sluice_port = start_pgsluice(work, binary, pg.port, max(idle_clients, 1000))
        procs = [bouncer, sluice]
        if TLS:
            for target, port in (("pgsluice", sluice_port), ("pgbouncer", bouncer_port)):
                print(f"TLS to {target}: {negotiated(port)}", flush=True)
        targets = [("pgsluice", sluice_port, "bench", sluice_pid), ("pgbouncer", bouncer_port, "bench", bouncer_pid),
                   ("direct", pg.port, "postgres", None)]
        if args.floor:
            relay, relay_pid, relay_port = start_bare_relay(work, pg.port)
            procs.append(relay)
            targets.append(("bare relay", relay_port, "postgres", relay_pid))
        workloads = [("select -M simple", ["-S", "-M", "simple"]), ("select -M extended", ["-S", "-M", "extended"]),
                     ("select -M prepared", ["-S", "-M", "prepared"]), ("tpcb-like", [])]
        if args.workloads:
            keys = {"simple": "select -M simple", "extended": "select -M extended", "prepared": "select -M prepared",
                    "tpcb": "tpcb-like"}
            chosen = {keys[w] for w in args.workloads.split(",")}
            workloads = [w for w in workloads if w[0] in chosen]
        # A warm-up, not measured: the first seconds after pgbench -i (its tables analyzed,
        # the cache filled, each proxy's servers opened) were the slowest of the whole run,
        # and whichever proxy went first took them.
        if not args.memory_only:
            for target, port, dbname, pid in targets:
                if target == "direct" and args.no_direct:
                    continue
                pgbench(port, dbname, ["-S", "-M", "simple"], 20, 5, pid)
        rows = []
        runs = {}  # (workload, clients, target) -> [(tps, latency, cpu_us)] one per repetition
        for name, wargs in ([] if args.memory_only else workloads):
            for clients in client_counts:
                for rep in range(args.repeat):
                    in_turn = targets if rep % 2 == 0 else [targets[1], targets[0]] + targets[2:]
                    for target, port, dbname, pid in in_turn:
                        if target == "direct" and (clients > 300 or args.no_direct):
                            continue  # PostgreSQL itself is not set up for 1000 backends here
                        if target == "bare relay" and clients > 300:
                            continue  # one backend per client, as direct
                        if target == "pgbouncer" and name == "select -M prepared":
                            continue  # PgBouncer 1.18: no named statements in transaction mode
                        tps, latency, cpu_us = pgbench(port, dbname, wargs, clients, seconds, pid)
                        runs.setdefault((name, clients, target), []).append((tps, latency, cpu_us))
                        print(f"{name:20} {clients:5} {target:10} run {rep + 1}: {tps:10.0f} tps "
                              f"{latency:8.2f} ms {cpu_us:7.1f} us/tx", flush=True)
        mean = lambda values: sum(values) / len(values)
        rows = [(name, clients, target, mean([r[0] for r in rs]), mean([r[1] for r in rs]), mean([r[2] for r in rs]))
                for (name, clients, target), rs in runs.items()]
        # A new connection per transaction (pgbench -C): the cost of a SCRAM login, which both
        # proxies check against a plaintext password here (with --tls, a TLS handshake too).
        logins = {}
        for rep in range(0 if args.memory_only or args.no_logins else args.repeat):
            for target, port, dbname, pid in targets[:2]:
                tps, latency, cpu_us = pgbench(port, dbname, ["-C", "-S", "-M", "simple"], 4, seconds, pid)
                logins.setdefault(target, []).append((tps, cpu_us))
                print(f"login (-C -S, 4 clients) {target:10} run {rep + 1}: {tps:8.0f} logins/s {cpu_us:8.1f} us/login",
                      flush=True)
        # On fresh processes: the heap the load above grew would hold thousands of idle
        # clients without growing, and hide what they cost.
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        bouncer, bouncer_pid, bouncer_port = start_pgbouncer(work, pg.port, max(idle_clients, 1000), "idle")
        sluice, sluice_pid, sluice_port = start_pgsluice(work, binary, pg.port, max(idle_clients, 1000), "idle")
        procs = [bouncer, sluice]
        mem = {}
        for target, port, pid in (() if args.no_memory else
                                  (("pgsluice", sluice_port, sluice_pid), ("pgbouncer", bouncer_port, bouncer_pid))):
            per_client, connected, per_kind = idle_memory(port, pid, idle_clients)
            mem[target] = (per_client, connected)
            print(f"idle memory {target}: {per_client:.0f} bytes/client with {connected} clients "
                  f"(anonymous {per_kind['RssAnon']:.0f} B, file-backed {per_kind['RssFile']:.0f} B)", flush=True)

        if rows:  # not with --memory-only
            print(f"\nMeans over {args.repeat} interleaved run(s) of {seconds} s per point"
                  + (", clients on TLS (sslmode=require)." if TLS else "."))
            print("\n| workload | clients | target | TPS | mean latency ms | proxy CPU us/tx |")
            print("|---|---|---|---|---|---|")
            for name, clients, target, tps, latency, cpu_us in rows:
                cpu = f"{cpu_us:.1f}" if target != "direct" else "-"
                print(f"| {name} | {clients} | {target} | {tps:.0f} | {latency:.2f} | {cpu} |")
            print("\n| workload | clients | TPS pgsluice/PgBouncer (each run) | CPU per tx pgsluice/PgBouncer (each run) |")
            print("|---|---|---|---|")
            for name, _ in workloads:
                for clients in client_counts:
                    s, b = runs.get((name, clients, "pgsluice")), runs.get((name, clients, "pgbouncer"))
                    if not s or not b:
                        continue
                    print(f"| {name} | {clients} | {each_ratio(s, b, 0)} | {each_ratio(s, b, 2)} |")
        floor_rows = [(name, clients, runs.get((name, clients, "pgsluice")), runs.get((name, clients, "bare relay")),
                       runs.get((name, clients, "pgbouncer"))) for name, _ in workloads for clients in client_counts]
        floor_rows = [row for row in floor_rows if all(row[2:])]
        if floor_rows:
            print("\n| workload | clients | CPU per tx pgsluice/PgBouncer (each run) "
                  "| CPU per tx bare relay/PgBouncer (each run) |")
            print("|---|---|---|---|")
            for name, clients, sluice_runs, relay_runs, bouncer_runs in floor_rows:
                print(f"| {name} | {clients} | {each_ratio(sluice_runs, bouncer_runs, 2)} "
                      f"| {each_ratio(relay_runs, bouncer_runs, 2)} |")
        prepared_rows = [(clients, runs.get(("select -M prepared", clients, "pgsluice")),
                          runs.get(("select -M extended", clients, "pgsluice")),
                          runs.get(("select -M extended", clients, "pgbouncer"))) for clients in client_counts]
        prepared_rows = [row for row in prepared_rows if row[1] and row[2] and row[3]]
        if prepared_rows:
            print("\n| clients | TPS: pgsluice prepared / pgsluice extended / PgBouncer extended "
                  "| CPU us/tx: same three | prepared/extended TPS through pgsluice |")
            print("|---|---|---|---|")
            for clients, prepared, extended, bouncer in prepared_rows:
                t = [mean([r[0] for r in rs]) for rs in (prepared, extended, bouncer)]
                c = [mean([r[2] for r in rs]) for rs in (prepared, extended, bouncer)]
                ratio = f"{t[0] / t[1]:.2f}" if t[1] else "-"
                print(f"| {clients} | {t[0]:.0f} / {t[1]:.0f} / {t[2]:.0f} | {c[0]:.1f} / {c[1]:.1f} / {c[2]:.1f} | {ratio} |")
        if logins.get("pgbouncer"):
            s, b = logins["pgsluice"], logins["pgbouncer"]
            print("\n| new connection per transaction (-C -S, 4 clients) | logins/s | proxy CPU us per login |")
            print("|---|---|---|")
            for target, rs in (("pgsluice", s), ("pgbouncer", b)):
                print(f"| {target} | {sum(r[0] for r in rs) / len(rs):.0f} | {sum(r[1] for r in rs) / len(rs):.0f} |")
            print("CPU per login pgsluice/PgBouncer (each run): " + each_ratio(s, b, 1))
        if mem.get("pgbouncer", (0,))[0] > 0:
            print(f"\nidle memory per client: pgsluice {mem['pgsluice'][0]:.0f} B, pgbouncer "
                  f"{mem['pgbouncer'][0]:.0f} B, ratio {mem['pgsluice'][0] / mem['pgbouncer'][0]:.2f} "
                  f"({mem['pgsluice'][1]} / {mem['pgbouncer'][1]} clients connected)")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
