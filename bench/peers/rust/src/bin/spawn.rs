// spawn: spawn N trivial tasks keeping their JoinHandles, then await them
// all; ns per task. Usage: spawn [ct|mt] [N]
#[path = "../common.rs"]
mod common;

use common::*;
use std::time::Instant;

fn main() {
    let mode = arg_str(1, "ct");
    let n = arg_u64(2, 1_000_000);
    let rt = runtime(&mode, 2);
    rt.block_on(async move {
        tokio::spawn(async move {
            // The handle array is allocated before timing, as in the cio
            // program.
            let mut hs = Vec::with_capacity(n as usize);
            let t0 = Instant::now();
            for _ in 0..n {
                hs.push(tokio::spawn(async {}));
            }
            for h in hs {
                h.await.unwrap();
            }
            result("spawn", elapsed_ns(t0) / n as f64, "ns");
        })
        .await
        .unwrap();
    });
}
