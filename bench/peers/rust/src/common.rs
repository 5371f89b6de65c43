// Helpers shared by the Tokio peers; each bin includes this file with
// `mod common;` so the bins stay independent programs.
#![allow(dead_code)]

use std::time::Instant;

/// Parses argv[i] as a count, or returns `default` when it is absent.
pub fn arg_u64(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .map(|s| s.parse().expect("argument must be a number"))
        .unwrap_or(default)
}

/// argv[i] as a string, or `default`.
pub fn arg_str(i: usize, default: &str) -> String {
    std::env::args().nth(i).unwrap_or_else(|| default.to_string())
}

/// The runtime named by `mode`: "ct" is current_thread, "mt" is
/// multi_thread with `workers` threads (the machine has 2 cores).
pub fn runtime(mode: &str, workers: usize) -> tokio::runtime::Runtime {
    match mode {
        "ct" => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap(),
        "mt" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_time()
            .build()
            .unwrap(),
        _ => panic!("mode must be ct or mt"),
    }
}

/// One machine-readable result line, the format every bench program uses.
pub fn result(name: &str, value: f64, unit: &str) {
    println!("result {} {:.3} {}", name, value, unit);
}

pub fn elapsed_ns(t0: Instant) -> f64 {
    t0.elapsed().as_nanos() as f64
}

/// A field of /proc/self/status in bytes (VmHWM, VmRSS).
pub fn proc_status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let kb: u64 = rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
                return kb * 1024;
            }
        }
    }
    0
}

/// User + system CPU time of the whole process (all threads) in ns.
pub fn cpu_ns() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The same deadline generator as bench/common.h and the Go peer:
/// splitmix64 of (seed + i), reduced to [0, 1 s).
pub fn timer_offset_ns(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^= z >> 31;
    z % 1_000_000_000
}
