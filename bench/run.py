#!/usr/bin/env python3
"""Runs cio's benchmarks side by side with their peers (Go, Tokio, Boost,
libuv), one program at a time, and reports median/min/max per metric plus
the ratio cio/peer. See bench/README.md.

Expects the cio programs to be built already (build/release/bench, as
`make bench` does); builds the peers itself into build/bench/peers.

Environment:
  BENCH_REPS     repetitions of every run (default 5; 3 for the 1M benchmarks)
  BENCH_ONLY     comma-separated benchmarks to run (default: all)
  BENCH_SCALE    multiplies every N (e.g. 0.01 for a smoke test; default 1)
  BENCH_TIMEOUT  seconds before one run is killed (default 300)
  BENCH_CIO_BIN  where the cio programs are (default build/release/bench)
"""

import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_SRC = os.path.join(ROOT, "bench")
OUT = os.path.join(ROOT, "build", "bench")
PEERS = os.path.join(OUT, "peers")
CARGO_TARGET = os.path.join(OUT, "cargo")
CIO_BIN = os.environ.get("BENCH_CIO_BIN", os.path.join(ROOT, "build", "release", "bench"))

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


def scaled_pow10(n):
    """skynet needs a power of 10: the scaled N rounded down to one."""
    s = scaled(n)
    p = 10
    while p * 10 <= s:
        p *= 10
    return p


class Bench:
    def __init__(self, name, heavy, runs):
        self.name = name
        self.heavy = heavy
        # runs: list of (impl, argv, extra env)
        self.runs = runs


def benchmarks():
    sw = scaled(10_000_000)    # round trips: 2 switches each
    yl = scaled(1_000_000)     # yields per task (2 tasks)
    sp = scaled(1_000_000)
    idle = scaled(1_000_000)
    sky = scaled_pow10(1_000_000)
    tm = scaled(1_000_000)
    p1 = {"GOMAXPROCS": "1"}
    p2 = {"GOMAXPROCS": "2"}
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
        # Every idle_tasks impl uses its runtime's default thread count, which
        # is one per CPU (2 here): cio workers=0, Go's default GOMAXPROCS,
        # Tokio multi_thread with 2 workers.
        Bench("idle_tasks", True, [
            ("cio-default", [cio("bench_idle_tasks"), str(idle), "default"], {}),
            ("cio-min", [cio("bench_idle_tasks"), str(idle), "min"], {}),
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
    ]


# Goals the team compares against, printed next to the ratios (never
# enforced). (metric, cio impl or None for any, peer impl or "fastest", max).
GOALS = [
    ("switch", None, "boost", 1.0),
    ("yield", None, "go-p1", 0.25),
    ("yield", None, "tokio-ct", 0.25),
    ("spawn", None, "fastest", 0.5),
    ("skynet", None, "go-p1", 0.5),
    ("skynet", None, "go-p2", 0.5),
    ("skynet", None, "tokio-mt", 1.0),
    ("timers.cpu_ms", None, "libuv", 1.0),
    ("idle_tasks.bytes", "cio-min", "go", 1.0),
    ("idle_tasks.bytes", "cio-default", "go", 2.0),
]


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
    build_peers()

    all_benches = benchmarks()
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
            for impl, argv, env in b.runs:
                if not os.path.exists(argv[0]):
                    if (b.name, impl) not in skipped:
                        log(f"{b.name}: {impl} skipped ({argv[0]} not built)")
                        skipped.add((b.name, impl))
                    continue
                res = run_once(impl, argv, env, timeout)
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
    report.append("Results (median of the repetitions, with min and max; lower is better)")
    report.append(f"{'name':<22}{'impl':<13}{'median':>12}{'min':>12}{'max':>12}  unit  n")
    for metric, impl, med, lo, hi, unit in rows:
        n = len(samples[(metric, impl)])
        report.append(f"{metric:<22}{impl:<13}{fmt(med):>12}{fmt(lo):>12}{fmt(hi):>12}  {unit:<4}  {n}")

    report.append("")
    report.append("Ratios cio/peer (median over median; below 1 means cio is better)")
    report.append(f"{'name':<22}{'cio':<13}{'peer':<13}{'ratio':>8}  goal")
    medians = {(r[0], r[1]): r[2] for r in rows}
    for metric in metrics:
        impls = [i for (m, i) in order if m == metric]
        cios = [i for i in impls if i.startswith("cio")]
        peers = [i for i in impls if not i.startswith("cio")]
        fastest = min(peers, key=lambda p: medians[(metric, p)]) if peers else None
        for c in cios:
            for p in peers:
                ratio = medians[(metric, c)] / medians[(metric, p)] if medians[(metric, p)] else float("inf")
                goal = ""
                for gm, gc, gp, gmax in GOALS:
                    if gm != metric or (gc is not None and gc != c):
                        continue
                    if gp == p or (gp == "fastest" and p == fastest):
                        met = "met" if ratio <= gmax else "not met"
                        which = " (fastest peer)" if gp == "fastest" else ""
                        goal = f"<= {gmax:g}x{which}: {met}"
                report.append(f"{metric:<22}{c:<13}{p:<13}{ratio:>7.2f}x  {goal}")

    if skipped:
        report.append("")
        report.append("Skipped (not built): " + ", ".join(f"{b}/{i}" for b, i in sorted(skipped)))
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
