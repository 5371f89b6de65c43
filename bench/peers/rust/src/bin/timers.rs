// timers: N tasks each sleeping until a pseudo-random deadline within 1 s
// of the start (same generator and seed as the other implementations),
// run to completion. Reports process CPU time, wall time and peak RSS.
// Usage: timers [ct|mt] [N] [SEED]
#[path = "../common.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};

fn main() {
    let mode = arg_str(1, "ct");
    let n = arg_u64(2, 1_000_000);
    let seed = arg_u64(3, 42);
    let rt = runtime(&mode, 2);
    rt.block_on(async move {
        tokio::spawn(async move {
            let mut hs = Vec::with_capacity(n as usize);
            let cpu0 = cpu_ns();
            let t0 = Instant::now();
            let start = tokio::time::Instant::from_std(t0);
            for i in 0..n {
                let d = start + Duration::from_nanos(timer_offset_ns(seed, i));
                hs.push(tokio::spawn(async move {
                    tokio::time::sleep_until(d).await;
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
            let wall = elapsed_ns(t0);
            let cpu = cpu_ns() - cpu0;
            result("timers.cpu_ms", cpu / 1e6, "ms");
            result("timers.wall_ms", wall / 1e6, "ms");
            result("timers.rss_bytes", proc_status_bytes("VmHWM") as f64, "B");
        })
        .await
        .unwrap();
    });
}
