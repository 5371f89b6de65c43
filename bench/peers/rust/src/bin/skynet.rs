// skynet: a task of size s spawns 10 children of size s/10 and sums what
// they return; the leaves (N of them) return their number. Time in ms.
// Usage: skynet [ct|mt] [N]   (N a power of 10)
#[path = "../common.rs"]
mod common;

use common::*;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

fn skynet(num: u64, size: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let step = size / 10;
        let mut hs = Vec::with_capacity(10);
        for i in 0..10 {
            hs.push(tokio::spawn(skynet(num + i * step, step)));
        }
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn main() {
    let mode = arg_str(1, "mt");
    let n = arg_u64(2, 1_000_000);
    let rt = runtime(&mode, 2);
    rt.block_on(async move {
        tokio::spawn(async move {
            let t0 = Instant::now();
            let sum = skynet(0, n).await;
            let ms = elapsed_ns(t0) / 1e6;
            if sum != n * (n - 1) / 2 {
                eprintln!("skynet: wrong sum {} (want {})", sum, n * (n - 1) / 2);
                std::process::exit(1);
            }
            result("skynet", ms, "ms");
        })
        .await
        .unwrap();
    });
}
