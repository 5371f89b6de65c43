// idle_tasks: N tasks all waiting at once. Reports the peak RSS per task
// (VmHWM growth over a baseline taken before spawning) and the time until
// all N have started and are waiting, per task.
// Usage: idle_tasks [ct|mt] [N]
#[path = "../common.rs"]
mod common;

use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

static STARTED: AtomicU64 = AtomicU64::new(0);

fn main() {
    let mode = arg_str(1, "mt");
    let n = arg_u64(2, 1_000_000);
    let rt = runtime(&mode, 2);
    rt.block_on(async move {
        tokio::spawn(async move {
            // A closed semaphore is the release: closing is a state, so a
            // task that reaches acquire() late still sees it.
            let gate: &'static Semaphore = Box::leak(Box::new(Semaphore::new(0)));
            let base = proc_status_bytes("VmHWM");
            let t0 = Instant::now();
            for _ in 0..n {
                // Detached: the JoinHandle is dropped, as Go keeps none.
                tokio::spawn(async move {
                    STARTED.fetch_add(1, Ordering::Relaxed);
                    let _ = gate.acquire().await;
                });
            }
            while STARTED.load(Ordering::Relaxed) < n {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            let spawn_ns = elapsed_ns(t0) / n as f64;
            let hwm = proc_status_bytes("VmHWM");
            result("idle_tasks.bytes", hwm.saturating_sub(base) as f64 / n as f64, "B");
            result("idle_tasks.spawn_ns", spawn_ns, "ns");
            gate.close();
        })
        .await
        .unwrap();
    });
    // Tearing down a million tasks is not what is measured.
    std::process::exit(0);
}
