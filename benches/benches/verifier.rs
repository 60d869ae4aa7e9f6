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
//! The generated contracts are written by [`generate_c`] (a deterministic
//! pseudo-random mix of arithmetic, loops, switches compiled to jump tables,
//! calls, SSE2 double math and bit tricks), compiled with gcc and the C
//! contract flags of `images/build.rs`, and cached under
//! `target/bench-contracts/` (delete it to rebuild).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use nativm_verifier::{verify, Config, Report};

/// Functions in the large generated contract (>= 4 MiB of code) and in the
/// small one: the same generator, so the same mix; 490 functions give a
/// little over 1/16 of the code of 8192 (checked in [`inputs`]).
const LARGE_FUNCTIONS: usize = 8192;
const SMALL_FUNCTIONS: usize = 490;
/// Bump when [`generate_c`] changes, so cached ELFs are rebuilt.
const GENERATOR_VERSION: u32 = 1;
/// Runs per input for the summary's medians.
const SUMMARY_RUNS: usize = 15;

/// The C contract flags of `images/build.rs`.
const C_FLAGS: &[&str] = &[
    "-O2",
    "-std=c11",
    "-ffreestanding",
    "-fno-builtin",
    "-nostdlib",
    "-static",
    "-no-pie",
    "-fno-pic",
    "-mno-red-zone",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-fcf-protection=none",
    "-Wl,--build-id=none",
    "-Wl,-z,separate-code",
    "-Wl,-z,noexecstack",
    "-Wl,-e,0",
];

/// xorshift64*: deterministic, so the generated contract is the same on
/// every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One statement of a generated function over the locals `x`, `y`
/// (`unsigned long`) and the parameters `a`, `b`.
fn statement(rng: &mut Rng, index: usize, out: &mut String) {
    let c = rng.next() | 1;
    let s = 1 + rng.below(62);
    match rng.below(8) {
        // Plain arithmetic.
        0 => writeln!(
            out,
            "    x = x * {c:#x}UL + (y >> {s}); y ^= x + {}UL;",
            rng.next() >> 8
        ),
        // A loop with a data-dependent trip count.
        1 => writeln!(
            out,
            "    for (unsigned long j = 0; j < (a & 15) + {}; j++) {{ x = x * {c:#x}UL + (y >> {s}); y ^= x << {}; }}",
            1 + rng.below(8),
            1 + rng.below(31)
        ),
        // A dense switch: gcc emits a jump table (an indirect jmp).
        2 => {
            writeln!(out, "    switch ((x >> {s}) & 15) {{").unwrap();
            for case in 0..12 {
                let k = rng.next() >> 4;
                let op = ["+=", "^=", "-=", "|="][rng.below(4) as usize];
                writeln!(out, "    case {case}: x {op} {k:#x}UL; y += x >> {}; break;", 1 + case).unwrap();
            }
            writeln!(out, "    default: y -= x; break;\n    }}")
        }
        // Calls to earlier functions.
        3 if index > 0 => {
            let callee = rng.below(index as u64);
            writeln!(out, "    x += f{callee}(y, x ^ {c:#x}UL);")
        }
        // SSE2 double math and conversions.
        4 => writeln!(
            out,
            "    {{ double d = (double)(long)x * {}.25 + (double)(long)y / {}.5; d = d * d - (double)(long)(x >> 3); x ^= (unsigned long)(long)(d / 1024.0); }}",
            1 + rng.below(1000),
            1 + rng.below(1000)
        ),
        // Bit tricks: rotates, lowest set bit, byte swaps by hand.
        5 => writeln!(
            out,
            "    x = (x << {s}) | (x >> (64 - {s})); y ^= x & (0 - x); x += (y >> 32) | (y << 32); y = ((y & 0xff00ff00ff00ff00UL) >> 8) | ((y & 0x00ff00ff00ff00ffUL) << 8);"
        ),
        // Branches that become cmov or jumps.
        6 => writeln!(
            out,
            "    if (x > y) x -= y; else y -= x; if ((long)x < {}L) y += {c:#x}UL;",
            rng.next() as i32
        ),
        // Division and remainder.
        _ => writeln!(out, "    x = x / (y | 1) + x % {c:#x}UL; y += a % (b | 3);"),
    }
    .unwrap();
}

/// A C contract with `functions` helper functions `f0..` (static, kept with
/// `used`, calling earlier ones) and one exported method per 16 helpers.
fn generate_c(functions: usize) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::from(
        "/* Generated by benches/benches/verifier.rs: do not edit. */\n\
         typedef unsigned long u64;\n",
    );
    for i in 0..functions {
        writeln!(
            out,
            "__attribute__((used)) static unsigned long f{i}(unsigned long a, unsigned long b)\n{{\n    unsigned long x = a ^ {:#x}UL, y = b + {:#x}UL;",
            rng.next(),
            rng.next()
        )
        .unwrap();
        for _ in 0..3 + rng.below(5) {
            statement(&mut rng, i, &mut out);
        }
        out += "    return x ^ y;\n}\n";
        if i % 16 == 15 {
            writeln!(
                out,
                "__attribute__((visibility(\"default\"), used)) unsigned long method{}(unsigned long a, unsigned long b)\n{{\n    return f{i}(a, b) + f{}(b, a);\n}}",
                i / 16,
                rng.below(i as u64 + 1)
            )
            .unwrap();
        }
    }
    out
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Builds (or reuses) the generated contract with `functions` helpers.
fn generated_contract(functions: usize) -> PathBuf {
    let dir = target_dir().join("bench-contracts");
    let elf = dir.join(format!("generated-v{GENERATOR_VERSION}-{functions}.elf"));
    if elf.is_file() {
        return elf;
    }
    std::fs::create_dir_all(&dir).expect("create target/bench-contracts");
    let src = dir.join(format!("generated-v{GENERATOR_VERSION}-{functions}.c"));
    std::fs::write(&src, generate_c(functions)).expect("write generated C");
    let tmp = elf.with_extension("elf.tmp");
    eprintln!("compiling {} ...", src.display());
    let out = Command::new("gcc")
        .args(C_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&tmp)
        .output()
        .expect("run gcc (needed to build the generated contracts)");
    assert!(
        out.status.success(),
        "gcc failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &elf).expect("rename generated ELF");
    elf
}

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

fn main() {
    let inputs = inputs();
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &inputs);
    criterion.final_summary();
    // Only under `cargo bench` (not `cargo test --benches`, which runs each
    // benchmark once as a smoke test).
    if std::env::args().any(|a| a == "--bench") {
        summary(&inputs);
    }
}
