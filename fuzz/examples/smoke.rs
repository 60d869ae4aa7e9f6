//! Runs the whole-path harness on pseudo-random programs without libFuzzer
//! (for debugging the generator): `cargo run --release --example smoke -- N SEED`.
use arbitrary::{Arbitrary, Unstructured};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let mut seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let len: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let started = std::time::Instant::now();
    for _ in 0..n {
        let mut bytes = vec![0u8; len];
        for b in bytes.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut u = Unstructured::new(&bytes);
        if let Ok(p) = nativm_fuzz::gen::Program::arbitrary(&mut u) {
            if std::env::var_os("SMOKE_PRINT").is_some() {
                eprintln!("{p:?}");
            }
            nativm_fuzz::harness::run(&p);
        }
    }
    eprintln!("{} programs in {:?}", n, started.elapsed());
    eprintln!("{}", nativm_fuzz::harness::stats());
}
