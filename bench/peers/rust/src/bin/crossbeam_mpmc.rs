// chan_mpmc with crossbeam-channel: 4 producer and 4 consumer OS threads
// on one bounded channel of capacity 1024; million items per second.
// Usage: crossbeam_mpmc [N]
#[path = "../common.rs"]
mod common;

use common::*;
use std::thread;
use std::time::Instant;

fn main() {
    let n = arg_u64(1, 10_000_000);
    let (producers, consumers) = (4u64, 4u64);
    let n = n - n % producers;
    let per = n / producers;
    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    let t0 = Instant::now();
    let cs: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.iter().sum::<u64>())
        })
        .collect();
    let ps: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in p * per..(p + 1) * per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    drop(rx);
    for p in ps {
        p.join().unwrap();
    }
    let total: u64 = cs.into_iter().map(|c| c.join().unwrap()).sum();
    let s = elapsed_ns(t0) / 1e9;
    if total != n * (n - 1) / 2 {
        eprintln!("crossbeam_mpmc: wrong sum");
        std::process::exit(1);
    }
    result("chan_mpmc", n as f64 / s / 1e6, "Mitems/s");
}
