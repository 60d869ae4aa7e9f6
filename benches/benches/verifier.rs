//! Verifier throughput: MB/s of executable code on the example contracts
//! and on generated C contracts of ~256 KiB and (16x larger) >= 4 MiB of
//! code, and the time ratio between the two (issue 3: below 20x, target
//! >= 50 MB/s).
//!
//! Run: `cargo bench -p nativm-benches --bench verifier`. Criterion prints
//! the time and MB/s (`thrpt`, bytes of executable code) of each input;
//! after it, a summary timed here (median of 15 runs, in this process)
//! prints the small/large medians, their ratio, and the MB/s of the large
//! contract.
//!
//! The generated contracts are written by `nativm_benches::generate_c`
//! (`benches/src/lib.rs`, shared with the gas benchmark; a deterministic
//! pseudo-random mix of arithmetic, loops, switches compiled to jump tables,
//! calls, SSE2 double math and bit tricks), compiled with gcc and the C
//! contract flags of `images/build.rs`, and cached under
//! `target/bench-contracts/` (delete it to rebuild).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use nativm_benches::{generated_contract, LARGE_FUNCTIONS, SMALL_FUNCTIONS};
use nativm_verifier::{verify, Config, Report};

/// Runs per input for the summary's medians.
const SUMMARY_RUNS: usize = 15;

struct Input {
    name: String,
    bytes: Vec<u8>,
    code_bytes: u64,
}

fn load(name: &str, path: &Path) -> Input {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let report: Report = verify(&bytes, &Config::default());
    assert!(
        report.is_ok(),
        "{name} ({}) does not verify:\n{}",
        path.display(),
        report.to_text()
    );
    Input {
        name: name.to_string(),
        code_bytes: report.stats.code_bytes,
        bytes,
    }
}

fn inputs() -> Vec<Input> {
    let mut inputs: Vec<Input> = ["fib", "sha256", "token", "counter"]
        .iter()
        .map(|n| load(n, &nativm_images::contract_path(n)))
        .collect();
    inputs.push(load(
        "generated-small",
        &generated_contract(SMALL_FUNCTIONS),
    ));
    inputs.push(load(
        "generated-large",
        &generated_contract(LARGE_FUNCTIONS),
    ));
    let (small, large) = (&inputs[inputs.len() - 2], &inputs[inputs.len() - 1]);
    assert!(
        large.code_bytes >= 4 << 20,
        "the large generated contract has only {} bytes of code; raise LARGE_FUNCTIONS",
        large.code_bytes
    );
    assert!(
        large.code_bytes >= 16 * small.code_bytes,
        "the large generated contract ({} bytes of code) is not 16 times the small one ({}); lower SMALL_FUNCTIONS",
        large.code_bytes,
        small.code_bytes
    );
    inputs
}

fn criterion_benches(c: &mut Criterion, inputs: &[Input]) {
    let mut group = c.benchmark_group("verify");
    for input in inputs {
        group.throughput(Throughput::Bytes(input.code_bytes));
        group.sample_size(match input.code_bytes {
            n if n > 1 << 20 => 10,
            n if n > 64 << 10 => 20,
            _ => 50,
        });
        group.bench_with_input(
            BenchmarkId::from_parameter(&input.name),
            &input.bytes,
            |b, bytes| b.iter(|| verify(std::hint::black_box(bytes), &Config::default())),
        );
    }
    group.finish();
}

fn median_time(bytes: &[u8]) -> Duration {
    let mut times: Vec<Duration> = (0..SUMMARY_RUNS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(verify(std::hint::black_box(bytes), &Config::default()));
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

fn summary(inputs: &[Input]) {
    eprintln!("\nverifier summary (median of {SUMMARY_RUNS} runs each, MB = 10^6 bytes of code):");
    let mut medians = Vec::new();
    for input in inputs {
        let t = median_time(&input.bytes);
        eprintln!(
            "  {:<16} {:>9} bytes of code  {:>10.3} ms  {:>8.1} MB/s",
            input.name,
            input.code_bytes,
            t.as_secs_f64() * 1e3,
            mb_per_s(input.code_bytes, t)
        );
        medians.push(t);
    }
    let n = inputs.len();
    let (small, large) = (&inputs[n - 2], &inputs[n - 1]);
    let (ts, tl) = (medians[n - 2], medians[n - 1]);
    let size_ratio = large.code_bytes as f64 / small.code_bytes as f64;
    let time_ratio = tl.as_secs_f64() / ts.as_secs_f64();
    eprintln!(
        "  large/small: {size_ratio:.2}x the code, {time_ratio:.2}x the time (issue 3: below 20x)"
    );
    eprintln!(
        "  generated-large: {:.1} MB/s (target: at least 50 MB/s)",
        mb_per_s(large.code_bytes, tl)
    );
}

fn median_of(mut run: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..SUMMARY_RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Preparation (issue 13: at least 50 MB/s, linear): verify + translate
/// (`nativm_gas::prepare`) and translate alone (`nativm_gas::translate`
/// of the verifier's parse, made once outside the timing), medians of [`SUMMARY_RUNS`] runs;
/// and the size of what it builds (issue 13: prepared code plus tables at
/// most 4x the code).
fn prepare_summary(inputs: &[Input]) {
    eprintln!(
        "\npreparation summary (median of {SUMMARY_RUNS} runs each, MB = 10^6 bytes of code):"
    );
    let config = Config::default();
    let mut medians = Vec::new();
    for input in inputs {
        let t = nativm_gas::prepare(&input.bytes, &config).expect("prepares");
        let prepare = median_of(|| {
            std::hint::black_box(nativm_gas::prepare(
                std::hint::black_box(&input.bytes),
                &config,
            ))
            .expect("prepares");
        });
        let (_, parsed) = nativm_verifier::verify_and_parse(&input.bytes, &config);
        let translate = median_of(|| {
            std::hint::black_box(nativm_gas::translate(
                std::hint::black_box(&parsed.code),
                &parsed.functions,
            ))
            .expect("translates");
        });
        let code = t.stats.code_bytes;
        let (prepared, table) = (t.stats.prepared_bytes, t.table_bytes());
        eprintln!(
            "  {:<16} verify+translate {:>8.1} MB/s, translate {:>8.1} MB/s; prepared {:.2}x, table {:.2}x, total {:.2}x the code",
            input.name,
            mb_per_s(code, prepare),
            mb_per_s(code, translate),
            prepared as f64 / code as f64,
            table as f64 / code as f64,
            (prepared + table) as f64 / code as f64,
        );
        medians.push(prepare);
    }
    let n = inputs.len();
    let (small, large) = (&inputs[n - 2], &inputs[n - 1]);
    eprintln!(
        "  large/small: {:.2}x the code, {:.2}x the verify+translate time",
        large.code_bytes as f64 / small.code_bytes as f64,
        medians[n - 1].as_secs_f64() / medians[n - 2].as_secs_f64()
    );
}

fn main() {
    let inputs = inputs();
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &inputs);
    criterion.final_summary();
    // Only under `cargo bench` (not `cargo test --benches`, which runs each
    // benchmark once as a smoke test).
    if std::env::args().any(|a| a == "--bench") {
        summary(&inputs);
        prepare_summary(&inputs);
    }
}
