// chan_pingpong: two tasks bounce a value over two Tokio mpsc channels of
// capacity 1 (Tokio has no unbuffered channel; capacity 1 is the closest);
// ns per round trip.
// Usage: chan_pingpong [ct|mt] [N]
#[path = "../common.rs"]
mod common;

use common::*;
use std::time::Instant;
use tokio::sync::mpsc;

fn main() {
    let mode = arg_str(1, "ct");
    let n = arg_u64(2, 1_000_000);
    let rt = runtime(&mode, 2);
    rt.block_on(async move {
        tokio::spawn(async move {
            let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
            let t0 = Instant::now();
            let ponger = tokio::spawn(async move {
                for _ in 0..n {
                    let v = ping_rx.recv().await.unwrap();
                    pong_tx.send(v).await.unwrap();
                }
            });
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                if pong_rx.recv().await.unwrap() != i {
                    eprintln!("chan_pingpong: wrong value");
                    std::process::exit(1);
                }
            }
            ponger.await.unwrap();
            result("chan_pingpong", elapsed_ns(t0) / n as f64, "ns");
        })
        .await
        .unwrap();
    });
}
