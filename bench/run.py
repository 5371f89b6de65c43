#!/usr/bin/env python3
"""Runs cio's benchmarks side by side with their peers (Go, Tokio, Boost,
libuv, nginx), one program at a time, and reports median/min/max per metric
plus the ratio cio/peer. See bench/README.md.

Expects the cio programs to be built already (build/release/bench and
build/release/examples, as `make bench` does); builds the Go, Tokio and
Boost peers itself into build/bench/peers.

Environment:
  BENCH_REPS     repetitions of every run (default 5; 3 for the 1M and the
                 network benchmarks)
  BENCH_ONLY     comma-separated benchmarks to run (default: all)
  BENCH_SCALE    multiplies every N, and the network benchmarks' duration
                 and connection count (e.g. 0.01 for a smoke test; default 1)
  BENCH_TIMEOUT  seconds before one run is killed (default 300)
  BENCH_CIO_BIN  where the cio programs are (default build/release/bench)
  BENCH_CIO_EXAMPLES  where the cio servers are (default: examples/ next to
                 BENCH_CIO_BIN, i.e. build/release/examples)
"""

import csv
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_SRC = os.path.join(ROOT, "bench")
OUT = os.path.join(ROOT, "build", "bench")
PEERS = os.path.join(OUT, "peers")
CARGO_TARGET = os.path.join(OUT, "cargo")
CIO_BIN = os.environ.get("BENCH_CIO_BIN", os.path.join(ROOT, "build", "release", "bench"))
CIO_EXAMPLES = os.environ.get("BENCH_CIO_EXAMPLES",
                              os.path.join(os.path.dirname(CIO_BIN), "examples"))

RESULT_RE = re.compile(r"^result (\S+) (\S+) (\S+)$")


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# Building the peers
# --------------------------------------------------------------------------

def newer_than(target, sources):
    """True if `target` exists and is newer than every file in `sources`."""
    if not os.path.exists(target):
        return False
    t = os.path.getmtime(target)
    return all(os.path.getmtime(s) <= t for s in sources)


def run_build(what, cmd, cwd=None, env=None):
    log(f"build: {what}")
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log(f"build: {what} FAILED (its benchmarks are skipped):\n{r.stdout[-3000:]}")
        return False
    return True


def build_peers():
    os.makedirs(PEERS, exist_ok=True)

    # Go: one module, no dependencies; never touch the network.
    if shutil.which("go"):
        env = dict(os.environ, GOCACHE=os.path.join(OUT, "gocache"),
                   GOPATH=os.path.join(OUT, "gopath"), GOPROXY="off",
                   GOFLAGS="-mod=mod", GO111MODULE="on", GOTOOLCHAIN="local")
        run_build("go peers", ["go", "build", "-o", os.path.join(PEERS, "gobench"), "."],
                  cwd=os.path.join(BENCH_SRC, "peers", "go"), env=env)
    else:
        log("build: go not found, Go peers skipped")

    # Tokio: run from inside bench/ so cargo picks up bench/.cargo/config.toml
    # (Debian's crates as the only, offline, source).
    if shutil.which("cargo"):
        run_build("tokio peers",
                  ["cargo", "build", "--release", "--offline", "--quiet",
                   "--target-dir", CARGO_TARGET],
                  cwd=os.path.join(BENCH_SRC, "peers", "rust"))
    else:
        log("build: cargo not found, Tokio peers skipped")

    # Boost.Context: plain g++; rebuilt only when the source changed.
    src = os.path.join(BENCH_SRC, "peers", "boost", "switch.cpp")
    exe = os.path.join(PEERS, "boost_switch")
    if not newer_than(exe, [src]):
        cxx = os.environ.get("CXX", "g++")
        run_build("boost peer", [cxx, "-O2", "-Wall", "-Wextra", "-o", exe, src,
                                 "-lboost_context"])


# --------------------------------------------------------------------------
# What to run
# --------------------------------------------------------------------------

def cio(prog):
    return os.path.join(CIO_BIN, prog)


def gobench():
    return os.path.join(PEERS, "gobench")


def tokio(prog):
    return os.path.join(CARGO_TARGET, "release", prog)


def scaled(n):
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    return max(1, int(n * scale))


def file_read_files(n):
    """The file_read benchmark's n files of 64 KiB (f0..fN-1, distinct
    bytes each), made once under build/bench and read back, so every
    program reads them from the page cache."""
    d = os.path.join(OUT, "file_read")
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        p = os.path.join(d, "f%d" % i)
        if not os.path.exists(p) or os.path.getsize(p) != 65536:
            with open(p, "wb") as f:
                f.write(bytes((i + k) & 0xff for k in range(256)) * 256)
        with open(p, "rb") as f:
            f.read()
    return d


def scaled_pow10(n):
    """skynet needs a power of 10: the scaled N rounded down to one."""
    s = scaled(n)
    p = 10
    while p * 10 <= s:
        p *= 10
    return p


class ProgramRun:
    """One program that measures itself and prints `result` lines."""

    def __init__(self, impl, argv, env):
        self.impl = impl
        self.argv = argv
        self.env = env
        self.needs = [argv[0]]

    def execute(self, timeout):
        return run_once(self.impl, self.argv, self.env, timeout)


class Bench:
    def __init__(self, name, heavy, runs):
        self.name = name
        self.heavy = heavy
        # runs: ProgramRun or ServerRun objects; a tuple (impl, argv, extra
        # env) stands for a ProgramRun.
        self.runs = [ProgramRun(*r) if isinstance(r, tuple) else r for r in runs]


def benchmarks():
    sw = scaled(10_000_000)    # round trips: 2 switches each
    yl = scaled(1_000_000)     # yields per task (2 tasks)
    sp = scaled(1_000_000)
    idle = scaled(1_000_000)
    sky = scaled_pow10(1_000_000)
    tm = scaled(1_000_000)
    pp = scaled(1_000_000)     # round trips
    mpmc = scaled(10_000_000)  # items through the channel
    mx = scaled(1_000_000)     # increments per task (8 tasks)
    fr = scaled(1000)          # files of 64 KiB read at once
    spr = scaled(200)          # children of /bin/true at once
    p1 = {"GOMAXPROCS": "1"}
    p2 = {"GOMAXPROCS": "2"}
    frdir = file_read_files(fr)
    return [
        Bench("switch", False, [
            ("cio", [cio("bench_switch"), str(sw)], {}),
            ("boost", [os.path.join(PEERS, "boost_switch"), "fcontext", str(sw)], {}),
            ("boost-fiber", [os.path.join(PEERS, "boost_switch"), "fiber", str(sw)], {}),
        ]),
        Bench("yield", False, [
            ("cio-w1", [cio("bench_yield"), str(yl), "1"], {}),
            ("go-p1", [gobench(), "yield", str(yl)], p1),
            ("tokio-ct", [tokio("yield"), "ct", str(yl)], {}),
        ]),
        Bench("spawn", True, [
            ("cio-w1", [cio("bench_spawn"), str(sp), "1"], {}),
            ("cio-w2", [cio("bench_spawn"), str(sp), "2"], {}),
            ("go-p1", [gobench(), "spawn", str(sp)], p1),
            ("go-p2", [gobench(), "spawn", str(sp)], p2),
            ("tokio-ct", [tokio("spawn"), "ct", str(sp)], {}),
            ("tokio-mt", [tokio("spawn"), "mt", str(sp)], {}),
        ]),
        # cio only: for before/after figures (BENCH_BASE) of the table's
        # growth while idle; no peer has a counterpart program yet.
        Bench("spawn_bursts", True, [
            ("cio-w1", [cio("bench_spawn"), str(scaled(2000)), "1", "bursts"], {}),
        ]),
        # Every idle_tasks impl uses its runtime's default thread count, which
        # is one per CPU (2 here): cio workers=0, Go's default GOMAXPROCS,
        # Tokio multi_thread with 2 workers.
        Bench("idle_tasks", True, [
            ("cio-default", [cio("bench_idle_tasks"), str(idle), "default"], {}),
            ("cio-min", [cio("bench_idle_tasks"), str(idle), "min"], {}),
            ("cio-compact", [cio("bench_idle_tasks"), str(idle), "compact"], {}),
            ("go", [gobench(), "idle_tasks", str(idle)], {}),
            ("tokio", [tokio("idle_tasks"), "mt", str(idle)], {}),
        ]),
        Bench("skynet", True, [
            ("cio-w1", [cio("bench_skynet"), str(sky), "1"], {}),
            ("cio-w2", [cio("bench_skynet"), str(sky), "2"], {}),
            ("go-p1", [gobench(), "skynet", str(sky)], p1),
            ("go-p2", [gobench(), "skynet", str(sky)], p2),
            ("tokio-ct", [tokio("skynet"), "ct", str(sky)], {}),
            ("tokio-mt", [tokio("skynet"), "mt", str(sky)], {}),
        ]),
        Bench("timers", True, [
            ("cio-w1", [cio("bench_timers"), str(tm), "1", "42"], {}),
            ("cio-w2", [cio("bench_timers"), str(tm), "2", "42"], {}),
            ("go-p1", [gobench(), "timers", str(tm), "42"], p1),
            ("go-p2", [gobench(), "timers", str(tm), "42"], p2),
            ("tokio-ct", [tokio("timers"), "ct", str(tm), "42"], {}),
            ("libuv", [cio("bench_uv_timers"), str(tm), "42"], {}),
        ]),
        Bench("chan_pingpong", False, [
            ("cio-w1", [cio("bench_chan"), "pingpong", str(pp), "1"], {}),
            ("cio-w2", [cio("bench_chan"), "pingpong", str(pp), "2"], {}),
            ("go-p1", [gobench(), "chan_pingpong", str(pp)], p1),
            ("go-p2", [gobench(), "chan_pingpong", str(pp)], p2),
            ("tokio-ct", [tokio("chan_pingpong"), "ct", str(pp)], {}),
            ("tokio-mt", [tokio("chan_pingpong"), "mt", str(pp)], {}),
        ]),
        Bench("chan_mpmc", False, [
            ("cio-w1", [cio("bench_chan"), "mpmc", str(mpmc), "1"], {}),
            ("cio-w2", [cio("bench_chan"), "mpmc", str(mpmc), "2"], {}),
            ("go-p1", [gobench(), "chan_mpmc", str(mpmc)], p1),
            ("go-p2", [gobench(), "chan_mpmc", str(mpmc)], p2),
            ("crossbeam", [tokio("crossbeam_mpmc"), str(mpmc)], {}),
        ]),
        Bench("mutex", False, [
            ("cio-w1", [cio("bench_chan"), "mutex", str(mx), "1"], {}),
            ("cio-w2", [cio("bench_chan"), "mutex", str(mx), "2"], {}),
            ("go-p1", [gobench(), "mutex", str(mx)], p1),
            ("go-p2", [gobench(), "mutex", str(mx)], p2),
            ("pthread", [cio("bench_pthread_mutex"), str(mx)], {}),
        ]),
        # Every impl on its runtime's defaults: cio a worker per CPU and
        # its pool, libuv its pool of 4, Go GOMAXPROCS = CPUs; "seq" one
        # thread reading the files in turn, the floor of the work.
        Bench("file_read", True, [
            ("cio-uring", [cio("bench_file_read"), frdir, str(fr)],
             {"CIO_BACKEND": "io_uring"}),
            ("cio-epoll", [cio("bench_file_read"), frdir, str(fr)],
             {"CIO_BACKEND": "epoll"}),
            ("libuv", [cio("bench_uv_file_read"), frdir, str(fr)], {}),
            ("go", [gobench(), "file_read", frdir, str(fr)], {}),
            ("seq", [cio("bench_file_read"), frdir, str(fr), "seq"], {}),
        ]),
        # Every impl on its runtime's defaults, stdio inherited.
        Bench("spawn_proc", True, [
            ("cio", [cio("bench_spawn_proc"), str(spr)], {}),
            ("libuv", [cio("bench_uv_spawn_proc"), str(spr)], {}),
            ("go", [gobench(), "spawn_proc", str(spr)], {}),
        ]),
        Bench("skynet_chan", True, [
            ("cio-w1", [cio("bench_chan"), "skynet_chan", str(sky), "1"], {}),
            ("cio-w2", [cio("bench_chan"), "skynet_chan", str(sky), "2"], {}),
            ("go-p1", [gobench(), "skynet_chan", str(sky)], p1),
            ("go-p2", [gobench(), "skynet_chan", str(sky)], p2),
        ]),
    ] + net_benchmarks()


# Goals the team compares against, printed next to the ratios (never
# enforced). (metric, cio impl or None for any, peer impl or "fastest",
# bound): the ratio cio/peer must be at most the bound, or at least the
# bound for the metrics in HIGHER_IS_BETTER.
GOALS = [
    ("switch", None, "boost", 1.0),
    ("yield", None, "go-p1", 0.25),
    ("yield", None, "tokio-ct", 0.25),
    ("spawn", None, "fastest", 0.5),
    ("skynet", None, "go-p1", 0.5),
    ("skynet", None, "go-p2", 0.5),
    ("skynet", None, "tokio-mt", 1.0),
    ("timers.cpu_ms", None, "libuv", 1.0),
    ("file_read", None, "libuv", 1.0),
    ("spawn_proc", None, "go", 0.8),
    ("spawn_proc", None, "libuv", 1.0),
    ("idle_tasks.bytes", "cio-min", "go", 1.0),
    ("idle_tasks.bytes", "cio-compact", "go", 0.5),
    ("idle_tasks.bytes", "cio-default", "go", 2.0),
    ("http_hello.cpu_us", None, "libuv", 0.75),
    ("http_hello.cpu_us", None, "nginx", 0.7),
    ("http_hello.cpu_us", "cio-uring", "cio-epoll", 0.85),
    ("echo.cpu_us", None, "libuv", 0.75),
    ("echo.cpu_us", "cio-uring", "cio-epoll", 0.85),
    ("idle_conns.bytes", None, "go-p1", 1.0),
    ("idle_conns.bytes", None, "libuv", 4.0),
    ("idle_conns_100k.bytes", None, "libuv", 4.0),
    ("chan_pingpong", "cio-w1", "go-p1", 0.25),
    ("chan_pingpong", "cio-w1", "tokio-ct", 0.25),
    ("chan_mpmc", None, "fastest", 1.5),
    ("mutex", "cio-w2", "go-p2", 0.5),
    ("skynet_chan", None, "go-p1", 0.5),
    ("skynet_chan", None, "go-p2", 0.5),
]

# Metrics where more is better (throughput). For these a ratio cio/peer
# above 1 favours cio, and "fastest" in GOALS means the highest median.
HIGHER_IS_BETTER = {"http_hello.rps", "echo.rate", "chan_mpmc",
                    "http_hello_1k.rps", "echo_1k.rate"}


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def child_env(extra):
    env = dict(os.environ)
    # Each run states its own thread count; inherited settings would
    # silently change what an impl name means.
    for k in ("CIO_WORKERS", "GOMAXPROCS", "TOKIO_WORKER_THREADS", "GOGC"):
        env.pop(k, None)
    env.update(extra)
    return env


def run_once(impl, argv, extra_env, timeout):
    """Runs one program; returns {metric: (value, unit)} or None on failure."""
    if not os.path.exists(argv[0]):
        return None
    try:
        r = subprocess.run(argv, env=child_env(extra_env), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  {impl}: timed out after {timeout}s")
        return None
    out = {}
    for line in r.stdout.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            try:
                out[m.group(1)] = (float(m.group(2)), m.group(3))
            except ValueError:
                pass
    if r.returncode != 0 or not out:
        log(f"  {impl}: FAILED (exit {r.returncode}): {r.stderr.strip()[-500:]}")
        return None
    return out


def reps_for(bench):
    if "BENCH_REPS" in os.environ:
        return max(1, int(os.environ["BENCH_REPS"]))
    return 3 if bench.heavy else 5


# --------------------------------------------------------------------------
# Network benchmarks: a server under test and a load generator
# --------------------------------------------------------------------------
#
# The server runs pinned to one CPU and the load to another, so they never
# compete for a core. The server's CPU time (utime + stime of its process,
# all threads, from /proc/PID/stat) is sampled right before the load starts
# and right after it ends, and divided by the requests the load counted.

SERVER_READY_TIMEOUT = 10    # seconds for a server to accept connections
SERVER_STOP_TIMEOUT = 3      # seconds between SIGTERM and SIGKILL
CLK_TCK = os.sysconf("SC_CLK_TCK")
HELLO_BODY = b"Hello, World!"

NGINX_CONF = """\
# Written by bench/run.py for the http_hello benchmark.
daemon off;
master_process off;
worker_processes 1;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/logs/error.log warn;
worker_rlimit_nofile 20000;

events {
    worker_connections 4096;
}

http {
    access_log off;
    server_tokens off;
    default_type text/plain;
    keepalive_requests 1000000000;
    client_body_temp_path @PREFIX@/tmp/client_body;
    proxy_temp_path @PREFIX@/tmp/proxy;
    fastcgi_temp_path @PREFIX@/tmp/fastcgi;
    uwsgi_temp_path @PREFIX@/tmp/uwsgi;
    scgi_temp_path @PREFIX@/tmp/scgi;

    server {
        listen 127.0.0.1:@PORT@;
        location / {
            return 200 "Hello, World!";
        }
    }
}
"""


class RunFailed(Exception):
    pass


def find_program(name):
    """A program from PATH or /usr/sbin (nginx lives there, and /usr/sbin is
    not on a normal user's PATH); a path that does not exist if missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    return found or name


def cpu_pins():
    """(server CPU, load CPU): the first two CPUs this process may use, or
    None when there is only one (then nothing is pinned)."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


_unpinned_logged = False


def pinned(which, argv):
    """argv pinned to the server's (0) or the load's (1) CPU."""
    global _unpinned_logged
    pins = cpu_pins()
    if pins is None or not shutil.which("taskset"):
        if not _unpinned_logged:
            _unpinned_logged = True
            log("run.py: fewer than 2 CPUs or no taskset: server and load are "
                "not pinned, and they compete for the CPU")
        return argv
    return ["taskset", "-c", str(pins[which])] + argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """utime + stime of the whole process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # comm, in parentheses, may contain spaces: split after its end.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RunFailed(f"no VmRSS for pid {pid}")


def nginx_argv(port):
    """nginx as one process (master_process off), so the pid run.py holds
    is the one serving; everything it writes stays under build/bench/nginx."""
    prefix = os.path.join(OUT, "nginx")
    for d in ("conf", "logs", "tmp"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    conf = os.path.join(prefix, "conf", "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.replace("@PREFIX@", prefix).replace("@PORT@", str(port)))
    return [find_program("nginx"), "-p", prefix + "/", "-c", conf,
            "-e", os.path.join(prefix, "logs", "error.log")]


class Server:
    """A server under test. argv(port) gives its command line."""

    def __init__(self, impl, program, argv, env=None):
        self.impl = impl
        self.program = program
        self.argv = argv
        self.env = env or {}


def wait_listening(proc, port, log_tail):
    deadline = time.monotonic() + SERVER_READY_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RunFailed(f"server exited with status {proc.returncode}: {log_tail()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RunFailed(f"server not listening on port {port} after "
                                f"{SERVER_READY_TIMEOUT}s: {log_tail()}")
            time.sleep(0.02)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_get(port):
    """One GET on a fresh connection; returns the whole response after
    checking that it is a 200 with the hello body, framed by Content-Length."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                if m is None:
                    raise RunFailed(f"response without Content-Length: {data[:300]!r}")
                if len(body) >= int(m.group(1)):
                    break
            chunk = s.recv(4096)
            if not chunk:
                raise RunFailed(f"connection closed mid-response: {data[:300]!r}")
            data += chunk
    if not head.startswith(b"HTTP/1.1 200 ") or body != HELLO_BODY or \
            not re.search(rb"(?im)^content-type:\s*text/plain", head):
        raise RunFailed(f"not a 200 text/plain Hello, World!: {data[:300]!r}")
    return data


def cpu_per_request(server, argv, timeout, parse):
    """Runs the load `argv` against the server; parse(stdout) gives
    ({metric: (value, unit)}, requests served, cpu metric name)."""
    cpu0 = proc_cpu_s(server.pid)
    try:
        r = subprocess.run(pinned(1, argv), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"load timed out after {timeout}s")
    if server.poll() is not None:
        raise RunFailed(f"server exited with status {server.returncode} during the load")
    cpu1 = proc_cpu_s(server.pid)
    if r.returncode != 0:
        raise RunFailed(f"{os.path.basename(argv[0])} exit {r.returncode}: "
                        f"{r.stderr.strip()[-500:]}")
    out, requests, metric = parse(r.stdout)
    if requests <= 0:
        raise RunFailed(f"no requests served: {r.stdout.strip()[-500:]}")
    out[metric] = ((cpu1 - cpu0) * 1e6 / requests, "us")
    return out


WRK_UNITS = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
    """wrk's report: requests/s, the 99% line of --latency in us, and the
    request count. Any socket error or non-2xx answer fails the run, since
    the rate would then include answers that are not the hello."""
    def find(pattern):
        m = re.search(pattern, text, re.M)
        if m is None:
            raise RunFailed(f"wrk output without /{pattern}/: {text.strip()[-500:]}")
        return m
    errors = re.search(r"Socket errors: (.*)$", text, re.M)
    if errors and any(int(n) for n in re.findall(r"\d+", errors.group(1))):
        raise RunFailed(f"wrk: socket errors: {errors.group(1)}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        raise RunFailed(f"wrk: {bad.group(1)} non-2xx or 3xx responses")
    p99 = find(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$")
    out = {
        "http_hello.rps": (float(find(r"^Requests/sec:\s+([\d.]+)").group(1)), "req/s"),
        "http_hello.p99_us": (float(p99.group(1)) * WRK_UNITS[p99.group(2)], "us"),
    }
    return out, int(find(r"^\s*(\d+) requests in ").group(1)), "http_hello.cpu_us"


def parse_echo_load(text):
    out = {}
    requests = 0
    for line in text.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            out[m.group(1)] = (float(m.group(2)), m.group(3))
        elif line.startswith("requests "):
            requests = int(line.split()[1])
    return out, requests, "echo.cpu_us"


def renamed(parse, old, new):
    """`parse` with its metrics' prefix `old` turned into `new` (the same
    load at another connection count reports under its own name)."""
    def run(text):
        out, requests, cpu = parse(text)
        fix = lambda k: new + k[len(old):] if k.startswith(old + ".") else k
        return {fix(k): v for k, v in out.items()}, requests, fix(cpu)
    return run


class WrkLoad:
    """http_hello: wrk with one thread and `conns` keep-alive connections
    (100, or 1,000 for http_hello_1k)."""
    http = True

    def __init__(self, seconds, conns=100, name="http_hello"):
        self.seconds = seconds
        self.conns = conns
        self.name = name
        self.program = find_program("wrk")

    def measure(self, server, port, timeout):
        argv = [self.program, "-t1", f"-c{self.conns}", f"-d{self.seconds}s",
                "--latency", f"http://127.0.0.1:{port}/"]
        return cpu_per_request(server, argv, timeout,
                               renamed(parse_wrk, "http_hello", self.name))


class EchoLoad:
    """echo: bench_echo_load, `conns` connections (100, or 1,000 for
    echo_1k), one 64-byte message each in flight."""
    http = False

    def __init__(self, seconds, conns=100, name="echo"):
        self.seconds = seconds
        self.conns = conns
        self.name = name
        self.program = cio("bench_echo_load")

    def measure(self, server, port, timeout):
        argv = [self.program, str(port), str(self.conns), str(self.seconds), "64"]
        return cpu_per_request(server, argv, timeout,
                               renamed(parse_echo_load, "echo", self.name))


class IdleLoad:
    """idle_conns: bench_idle_conns holds n connections, each after one
    request; the server's RSS growth over that, per connection."""
    http = True

    def __init__(self, n, name="idle_conns"):
        self.n = n
        self.name = name
        self.program = cio("bench_idle_conns")

    def measure(self, server, port, timeout):
        rss0 = proc_rss(server.pid)
        with tempfile.TemporaryFile() as err:
            client = subprocess.Popen(pinned(1, [self.program, str(port), str(self.n)]),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=err)
            try:
                self._wait_ready(client, timeout, err)
                # The connections have been idle a moment, as idle ones
                # are: a server that trims what an idle connection holds
                # after a while (cio's compact tasks, after 50 ms) is
                # measured after it did, every server alike.
                time.sleep(0.5)
                if server.poll() is not None:
                    raise RunFailed(f"server exited with status {server.returncode}")
                rss1 = proc_rss(server.pid)
                client.stdin.close()    # EOF: the client checks and exits
                rc = client.wait(timeout)
            except subprocess.TimeoutExpired:
                raise RunFailed(f"bench_idle_conns did not exit within {timeout}s")
            finally:
                if client.poll() is None:
                    client.kill()
                    client.wait()
            if rc != 0:
                raise RunFailed(f"bench_idle_conns exit {rc}: {tail(err)}")
        return {f"{self.name}.bytes": ((rss1 - rss0) / self.n, "B")}

    @staticmethod
    def _wait_ready(client, timeout, err):
        deadline = time.monotonic() + timeout
        out = b""
        while not out.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RunFailed(f"bench_idle_conns not ready after {timeout}s")
            if select.select([client.stdout], [], [], left)[0]:
                chunk = os.read(client.stdout.fileno(), 256)
                if not chunk:
                    client.wait()
                    raise RunFailed(f"bench_idle_conns exit {client.returncode}: {tail(err)}")
                out += chunk
        if not out.startswith(b"ready"):
            raise RunFailed(f"bench_idle_conns said {out!r}")


def tail(f, n=500):
    f.seek(0)
    return f.read().decode(errors="replace").strip()[-n:]


class ServerRun:
    """One server under one load: start the server pinned to the first CPU,
    wait until it accepts connections, check its answer (HTTP), measure with
    the load pinned to the second CPU, stop the server."""
    sizes_logged = set()

    def __init__(self, server, load):
        self.server = server
        self.load = load
        self.impl = server.impl
        self.needs = [server.program, load.program]

    def execute(self, timeout):
        port = free_port()
        with tempfile.TemporaryFile() as log_f:
            proc = subprocess.Popen(pinned(0, self.server.argv(port)),
                                    stdin=subprocess.DEVNULL, stdout=log_f,
                                    stderr=subprocess.STDOUT,
                                    env=child_env(self.server.env))
            try:
                return self._measure(proc, port, timeout, lambda: tail(log_f))
            except RunFailed as e:
                log(f"  {self.impl}: FAILED: {e}")
                return None
            finally:
                stop(proc)

    def _measure(self, proc, port, timeout, log_tail):
        wait_listening(proc, port, log_tail)
        # CPU and RSS are read from this pid: make sure it is the server
        # itself, not a wrapper (taskset execs, so it should be).
        exe = os.path.realpath(f"/proc/{proc.pid}/exe")
        if exe != os.path.realpath(self.server.program):
            raise RunFailed(f"pid {proc.pid} is {exe}, not {self.server.program}")
        if self.load.http:
            size = len(http_get(port))
            if self.impl not in ServerRun.sizes_logged:
                ServerRun.sizes_logged.add(self.impl)
                note = "" if 100 <= size <= 160 else " (outside 100-160: not comparable)"
                log(f"  {self.impl}: the hello response is {size} bytes{note}")
        return self.load.measure(proc, port, timeout)


def net_benchmarks():
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    # wrk takes whole seconds.
    secs = max(1, round(10 * scale))
    conns = scaled(10_000)
    many = scaled(100_000)
    p1 = {"GOMAXPROCS": "1"}

    def cio_servers(prog):
        # The same server on each backend, side by side.
        path = os.path.join(CIO_EXAMPLES, prog)
        argv = lambda port: [path, "-p", str(port), "-w", "1"]
        return [Server("cio-uring", path, argv, {"CIO_BACKEND": "io_uring"}),
                Server("cio-epoll", path, argv, {"CIO_BACKEND": "epoll"})]

    def uv_server(prog):
        path = cio(prog)
        return Server("libuv", path, lambda port: [path, str(port)])

    def go_server(sub):
        return Server("go-p1", gobench(), lambda port: [gobench(), sub, str(port)], p1)

    nginx = Server("nginx", find_program("nginx"), nginx_argv)
    hello = cio_servers("http_hello") + [nginx, uv_server("bench_uv_http_hello"),
                                         go_server("http_hello")]
    echo = cio_servers("echo") + [uv_server("bench_uv_echo"), go_server("echo")]
    idle = cio_servers("http_hello") + [uv_server("bench_uv_http_hello"),
                                        go_server("http_hello")]
    return [
        Bench("http_hello", True, [ServerRun(s, WrkLoad(secs)) for s in hello]),
        Bench("http_hello_1k", True,
              [ServerRun(s, WrkLoad(secs, 1000, "http_hello_1k")) for s in hello]),
        Bench("echo", True, [ServerRun(s, EchoLoad(secs)) for s in echo]),
        Bench("echo_1k", True,
              [ServerRun(s, EchoLoad(secs, 1000, "echo_1k")) for s in echo]),
        Bench("idle_conns", True, [ServerRun(s, IdleLoad(conns)) for s in idle]),
    ] + ([Bench("idle_conns_100k", True,
                [ServerRun(s, IdleLoad(many, "idle_conns_100k")) for s in idle])]
         if nofile_allows(many) else [])


def nofile_allows(n):
    """Whether a server and the client may each hold n connections: the
    open-file limit is raised to what they need when it can be (root may
    raise the hard limit); otherwise the benchmark is left out, saying why."""
    need = n + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return True
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
        return True
    except (ValueError, OSError):
        log(f"run.py: idle_conns_100k left out: {n} connections need {need} "
            f"open files, and the hard limit is {hard} (raise it as root)")
        return False


def with_base(benches):
    """With BENCH_BASE (another build's release directory, holding bench/
    and examples/), every cio run gets a twin named "base:<impl>" that runs
    that build's program right after it: before/after figures of a change,
    side by side in one run. BENCH_CIO_ONLY=1 leaves the peers out."""
    base = os.environ.get("BENCH_BASE")
    cio_only = os.environ.get("BENCH_CIO_ONLY") == "1"
    if not base and not cio_only:
        return benches
    moves = []
    if base:
        moves = [(CIO_BIN, os.path.join(base, "bench")),
                 (CIO_EXAMPLES, os.path.join(base, "examples"))]

    def rebase(path):
        for here, there in moves:
            if path.startswith(here + os.sep):
                return os.path.join(there, os.path.relpath(path, here))
        return None

    def twin(r):
        if isinstance(r, ProgramRun):
            p = rebase(r.argv[0])
            return p and ProgramRun("base:" + r.impl, [p] + r.argv[1:], r.env)
        p = rebase(r.server.program)
        if not p:
            return None
        s = r.server
        argv = lambda port, f=s.argv, old=s.program: [p if a == old else a
                                                      for a in f(port)]
        return ServerRun(Server("base:" + s.impl, p, argv, s.env), r.load)

    for b in benches:
        runs = []
        for r in b.runs:
            if not r.impl.startswith("cio"):
                if not cio_only:
                    runs.append(r)
                continue
            runs.append(r)
            t = twin(r) if base else None
            if t:
                runs.append(t)
        b.runs = runs
    return benches


def fmt(v):
    if v >= 1e5:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 10 else f"{v:.2f}"


def num(v):
    """A CSV number: plain decimal (no exponent), at most 3 decimals."""
    return f"{v:.3f}".rstrip("0").rstrip(".")


def main():
    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    only += sys.argv[1:]
    timeout = float(os.environ.get("BENCH_TIMEOUT", "300"))

    if not os.path.isdir(CIO_BIN):
        log(f"run.py: no cio benchmark programs in {CIO_BIN} (run `make bench`)")
    # idle_conns holds 10,000 connections: the servers inherit this limit
    # (idle_conns_100k raises it further where it may, nofile_allows).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if os.environ.get("BENCH_CIO_ONLY") != "1":
        build_peers()

    all_benches = with_base(benchmarks())
    unknown = [o for o in only if o not in [b.name for b in all_benches]]
    if unknown:
        log(f"run.py: unknown benchmark(s) {', '.join(unknown)}; known: "
            + ", ".join(b.name for b in all_benches))
        return 2
    benches = [b for b in all_benches if not only or b.name in only]
    samples = {}       # (metric, impl) -> [values]
    units = {}         # metric -> unit
    order = []         # (metric, impl) in first-seen order
    failures = []
    skipped = set()
    raw = []
    t_start = time.time()

    for b in benches:
        reps = reps_for(b)
        for rep in range(reps):
            line = []
            for run in b.runs:
                impl = run.impl
                missing = [p for p in run.needs if not os.path.exists(p)]
                if missing:
                    if (b.name, impl) not in skipped:
                        log(f"{b.name}: {impl} skipped ({missing[0]} not built or not installed)")
                        skipped.add((b.name, impl))
                    continue
                res = run.execute(timeout)
                if res is None:
                    failures.append((b.name, impl, rep))
                    continue
                for metric, (value, unit) in res.items():
                    key = (metric, impl)
                    if key not in samples:
                        samples[key] = []
                        order.append(key)
                    samples[key].append(value)
                    units[metric] = unit
                    raw.append((metric, impl, rep + 1, value, unit))
                line.append(f"{impl} " + " ".join(
                    f"{m.split('.')[-1]}={fmt(v)}{u}" if "." in m else f"{fmt(v)}{u}"
                    for m, (v, u) in sorted(res.items())))
            log(f"{b.name} [{rep + 1}/{reps}]: " + "; ".join(line))

    os.makedirs(OUT, exist_ok=True)
    # Rows grouped by metric (in benchmark order), impls in run order.
    metrics = []
    for metric, _ in order:
        if metric not in metrics:
            metrics.append(metric)
    order = [(m, i) for m in metrics for (m2, i) in order if m2 == m]
    rows = []
    for metric, impl in order:
        v = samples[(metric, impl)]
        rows.append((metric, impl, statistics.median(v), min(v), max(v), units[metric]))

    with open(os.path.join(OUT, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "impl", "median", "min", "max", "unit"])
        for r in rows:
            w.writerow([r[0], r[1], num(r[2]), num(r[3]), num(r[4]), r[5]])
    with open(os.path.join(OUT, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "impl", "rep", "value", "unit"])
        for r in raw:
            w.writerow([r[0], r[1], r[2], num(r[3]), r[4]])

    report = []
    report.append("Results (median of the repetitions, with min and max; lower is better,")
    report.append("except for the rows marked 'higher is better')")
    report.append(f"{'name':<22}{'impl':<13}{'median':>12}{'min':>12}{'max':>12}  unit   n")
    for metric, impl, med, lo, hi, unit in rows:
        n = len(samples[(metric, impl)])
        mark = "  higher is better" if metric in HIGHER_IS_BETTER else ""
        report.append(f"{metric:<22}{impl:<13}{fmt(med):>12}{fmt(lo):>12}{fmt(hi):>12}"
                      f"  {unit:<5}  {n}{mark}")

    report.append("")
    report.append("Ratios cio/peer (median over median). 'cio better' says which side of 1")
    report.append("favours cio: below 1 for times, CPU and bytes; above 1 for rps and echo.rate.")
    report.append(f"{'name':<22}{'cio':<13}{'peer':<13}{'ratio':>8}  {'cio better':<11} goal")
    medians = {(r[0], r[1]): r[2] for r in rows}
    for metric in metrics:
        impls = [i for (m, i) in order if m == metric]
        cios = [i for i in impls if i.startswith("cio")]
        peers = [i for i in impls if not i.startswith("cio")]
        higher = metric in HIGHER_IS_BETTER
        best = max if higher else min
        real = [p for p in peers if not p.startswith("base:")]
        fastest = best(real, key=lambda p: medians[(metric, p)]) if real else None
        for c in cios:
            # The io_uring backend is also measured against the epoll one.
            own = ["cio-epoll"] if c == "cio-uring" and "cio-epoll" in impls else []
            for p in peers + own:
                # A base: twin is compared with its own impl only.
                if p.startswith("base:") and p != "base:" + c:
                    continue
                ratio = medians[(metric, c)] / medians[(metric, p)] if medians[(metric, p)] else float("inf")
                goal = ""
                for gm, gc, gp, gbound in GOALS:
                    if gm != metric or (gc is not None and gc != c):
                        continue
                    if gp == p or (gp == "fastest" and p == fastest):
                        ok = ratio >= gbound if higher else ratio <= gbound
                        which = " (fastest peer)" if gp == "fastest" else ""
                        goal = f"{'>=' if higher else '<='} {gbound:g}x{which}: " \
                               f"{'met' if ok else 'not met'}"
                better = "above 1" if higher else "below 1"
                report.append(f"{metric:<22}{c:<13}{p:<13}{ratio:>7.2f}x  {better:<11} {goal}")

    if skipped:
        report.append("")
        report.append("Skipped (not built or not installed): " + ", ".join(f"{b}/{i}" for b, i in sorted(skipped)))
    if failures:
        report.append("")
        report.append("Failed runs: " + ", ".join(f"{b}/{i}#{r + 1}" for b, i, r in failures))
    report.append("")
    report.append(f"Total run time {time.time() - t_start:.0f} s; results in "
                  f"{os.path.relpath(os.path.join(OUT, 'results.csv'), ROOT)}")

    text = "\n".join(report)
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write(text + "\n")
    log("")
    log(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
