// yield: two tasks yielding to each other on one thread; ns per yield.
// Usage: yield [ct|mt] [N]   (N yields per task)
#[path = "../common.rs"]
mod common;

use common::*;
use std::time::Instant;

fn main() {
    let mode = arg_str(1, "ct");
    let n = arg_u64(2, 1_000_000);
    let rt = runtime(&mode, 2);
    // Everything runs inside a spawned task, as cio's main is a task.
    rt.block_on(async move {
        tokio::spawn(async move {
            let t0 = Instant::now();
            let body = move || async move {
                for _ in 0..n {
                    tokio::task::yield_now().await;
                }
            };
            let a = tokio::spawn(body());
            let b = tokio::spawn(body());
            a.await.unwrap();
            b.await.unwrap();
            result("yield", elapsed_ns(t0) / (2 * n) as f64, "ns");
        })
        .await
        .unwrap();
    });
}
