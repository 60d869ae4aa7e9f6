//! What gas metering costs (issue 4): metered contract calls against the
//! same Rust code run natively, the backstop's lag on a runaway loop, and
//! the speed of preparation (verification + translation).
//!
//! Run (needs `/dev/kvm`):
//!
//! ```sh
//! cargo bench -p nativm-benches --bench gas_overhead
//! ```
//!
//! Plain timing, no criterion, one run, plain-text tables on stdout:
//!
//! 1. **Overhead.** For `fib`, `sha256` and `sieve`, the median of
//!    [`RUNS`] metered calls (`Diagnostics::run_ns`, the time inside the VMM:
//!    entering the warm guest, the metered run, the one VM exit of the
//!    return, the backstop's checks and the reset of the pages written),
//!    after [`WARMUP`] untimed ones, against the median of [`RUNS`] runs of
//!    the same Rust code compiled into this binary. Every call's status must
//!    be `ok`, its output must equal the native one and its `gas_used` must
//!    be the same on every run. Inputs are sized so that a call runs for at
//!    least ~50 ms, so the fixed cost of a call (printed: `fib(0)`, one VM
//!    exit, ~20-30 us on nested KVM) is under 0.1%; the sieve runs
//!    `sieve_rounds` (the same sieve [`SIEVE_ROUNDS`] times per call). Goal:
//!    geometric mean of the ratios at most 1.10, none above 1.25.
//!
//!    Where the time goes: a third column runs the contract ELF's own,
//!    untranslated code natively in this process ([`host_run`]: segments
//!    mapped at their addresses, a trampoline serving `set_return`), which
//!    splits each ratio into codegen (the contract's build against this
//!    binary's) and metering plus running in a guest. For the sieve, a
//!    second series with one round per call splits the extra time into a
//!    part per call (its 1 MiB of `.bss` is written afresh every call) and a
//!    part per round.
//! 2. **Lag.** `fib(u64::MAX)` (never returns) with a gas limit of 10^9:
//!    the call's wall time to its `out_of_gas` receipt, its backstop checks,
//!    and the lag `gas_overshoot / (gas per ns of the fib run)`: how long it
//!    ran past its limit before a check noticed. Goal: at most 50 ms.
//! 3. **Preparation.** `nativm_verifier::verify`, `nativm_gas::translate`
//!    alone (on code the verifier's ELF pass extracted beforehand, untimed)
//!    and `nativm_gas::prepare` (both, as a module load does) on the example
//!    contracts and on the generated 4 MiB contract of the verifier bench
//!    (`nativm_benches::generated_contract`), in MB/s of original code.
//!
//! **Same code on both sides.** `fib` and `sieve` run
//! `images/contracts/kernels.rs`, which the contracts and this file both
//! include (`#[path]`). `sha256` runs the `sha2` crate (0.10) on both sides:
//! the contract with `features = ["force-soft"]`, and this bench's
//! dev-dependency on `sha2` turns on `force-soft` too, so the native side
//! runs the same portable Rust compression function rather than SHA-NI
//! (which this host has and `sha2` would otherwise pick at run time).
//! Cargo unifies features, so every crate of a build that includes this
//! bench (e.g. `cargo test --workspace`) hashes with the portable code;
//! only speed changes, and `run_ns` includes no hashing.
//! Both sides are rustc `-O3` for baseline x86-64 (the contracts with LTO
//! and one codegen unit, this binary with the workspace's release profile).
//!
//! Under `cargo test --benches` (no `--bench` argument) it runs once with
//! small inputs and 3 runs, without the 4 MiB contract, as a smoke test of
//! every check.

#[path = "../../images/contracts/kernels.rs"]
mod kernels;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use nativm::{CallOptions, Engine, EngineConfig, Module, Receipt, StateDb, Status};
use sha2::{Digest, Sha256};

/// Timed runs per side and kernel (medians of these).
const RUNS: usize = 15;
/// Untimed runs before each series.
const WARMUP: usize = 2;
/// fib's `n`: one dependent add per step, ~60 ms here.
const FIB_N: u64 = 200_000_000;
/// sha256's input size (the input limit is 16 MiB): ~50 ms here.
const SHA_LEN: usize = 14 << 20;
/// The sieve's `n` (its largest) and the sieves per call (~1.5 ms each).
const SIEVE_N: u64 = 1 << 20;
const SIEVE_ROUNDS: u64 = 40;
/// Calls of `fib(0)` for the fixed per-call cost.
const FIXED_CALLS: usize = 2000;
/// Gas limit of the timed calls: far above what they use.
const BENCH_GAS: u64 = 1 << 50;
/// Gas limit of the runaway call (the issue's 10^9).
const LOOP_GAS: u64 = 1_000_000_000;
/// Runaway calls timed.
const LOOP_CALLS: usize = 5;
/// Timed runs of each preparation step (the large contract: fewer).
const PREP_RUNS: usize = 15;
const PREP_RUNS_LARGE: usize = 5;

/// Sizes of one run: the real ones under `cargo bench`, tiny ones as a
/// smoke test under `cargo test --benches`.
struct Sizes {
    runs: usize,
    fib_n: u64,
    sha_len: usize,
    sieve_rounds: u64,
    fixed_calls: usize,
    loop_calls: usize,
    prep_runs: usize,
    prep_runs_large: usize,
    /// Whether to prepare the 4 MiB generated contract (seconds in debug).
    prep_large: bool,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            runs: RUNS,
            fib_n: FIB_N,
            sha_len: SHA_LEN,
            sieve_rounds: SIEVE_ROUNDS,
            fixed_calls: FIXED_CALLS,
            loop_calls: LOOP_CALLS,
            prep_runs: PREP_RUNS,
            prep_runs_large: PREP_RUNS_LARGE,
            prep_large: true,
        }
    }

    fn smoke() -> Sizes {
        Sizes {
            runs: 3,
            fib_n: 1_000_000,
            sha_len: 64 << 10,
            sieve_rounds: 2,
            fixed_calls: 20,
            loop_calls: 1,
            prep_runs: 1,
            prep_runs_large: 1,
            prep_large: false,
        }
    }
}

type Res<T> = Result<T, String>;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { Sizes::full() } else { Sizes::smoke() };
    if let Err(e) = run(&sizes) {
        eprintln!("gas_overhead: {e}");
        std::process::exit(1);
    }
}

fn run(sizes: &Sizes) -> Res<()> {
    let engine = Engine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
    let store = StateDb::in_memory();
    println!(
        "gas overhead: metered nativm calls vs the same Rust code native; {} runs per side, medians",
        sizes.runs
    );
    println!(
        "host: {} logical CPUs; sha2 force-soft on both sides",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let fib = load(&engine, "fib")?;
    let fixed = fixed_cost(&engine, &store, &fib, sizes.fixed_calls)?;
    let rows = overhead(&engine, &store, sizes)?;
    print_overhead(&rows, fixed);
    sieve_split(&engine, &store, sizes, &rows[2])?;
    let fib_rate = rows[0].gas_per_ns();
    runaway(&engine, &store, &fib, fib_rate, sizes.loop_calls)?;
    preparation(sizes)?;
    Ok(())
}

fn load(engine: &Engine, name: &str) -> Res<Module> {
    let path = nativm_images::contract_path(name);
    let module =
        Module::from_file(engine, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    engine.prewarm(&module).map_err(|e| e.to_string())?;
    Ok(module)
}

fn call(
    engine: &Engine,
    store: &StateDb,
    module: &Module,
    method: &str,
    input: &[u8],
    gas: u64,
) -> Res<Receipt> {
    let options = CallOptions {
        input: input.to_vec(),
        gas_limit: Some(gas),
        timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    };
    engine
        .call(module, store, method, &options)
        .map_err(|e| format!("{method}: {e}"))
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

// ---- 1. overhead ---------------------------------------------------------

/// One kernel: a contract method and the same code natively.
struct Kernel {
    label: String,
    contract: &'static str,
    method: &'static str,
    input: Vec<u8>,
    /// Runs the kernel natively; returns (output, ns of the kernel alone).
    native: Box<dyn FnMut() -> (Vec<u8>, u64)>,
}

fn kernels(sizes: &Sizes) -> Vec<Kernel> {
    let fib_n = sizes.fib_n;
    // Deterministic pseudo-random bytes (xorshift64).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..sizes.sha_len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let sha_data = data.clone();
    let rounds = sizes.sieve_rounds;
    let mut sieve_buf = vec![0u8; kernels::SIEVE_MAX_N];
    let mut sieve_input = SIEVE_N.to_le_bytes().to_vec();
    sieve_input.extend_from_slice(&rounds.to_le_bytes());
    vec![
        Kernel {
            label: format!("fib({fib_n})"),
            contract: "fib",
            method: "fib",
            input: fib_n.to_le_bytes().to_vec(),
            native: Box::new(move || {
                let start = Instant::now();
                let out = black_box(kernels::fib_u64(black_box(fib_n)));
                let ns = start.elapsed().as_nanos() as u64;
                (out.to_le_bytes().to_vec(), ns)
            }),
        },
        Kernel {
            label: format!("sha256({} KiB)", sizes.sha_len >> 10),
            contract: "sha256",
            method: "digest",
            input: data,
            native: Box::new(move || {
                let start = Instant::now();
                let out: [u8; 32] = black_box(Sha256::digest(black_box(&sha_data[..])).into());
                let ns = start.elapsed().as_nanos() as u64;
                (out.to_vec(), ns)
            }),
        },
        Kernel {
            label: format!("sieve(2^20) x{rounds}"),
            contract: "sieve",
            method: "sieve_rounds",
            input: sieve_input,
            native: Box::new(move || {
                let start = Instant::now();
                let out = black_box(kernels::count_primes_below_rounds(
                    black_box(SIEVE_N as usize),
                    black_box(rounds),
                    black_box(&mut sieve_buf[..]),
                ));
                let ns = start.elapsed().as_nanos() as u64;
                (out.to_le_bytes().to_vec(), ns)
            }),
        },
    ]
}

struct Row {
    label: String,
    native_ns: u64,
    /// The contract's own code run on the host (no gas, no VM).
    host_ns: u64,
    nativm_ns: u64,
    gas_used: u64,
    /// Medians per call of backstop checks, pages reset and reset time.
    gas_checks: u64,
    pages_reset: u64,
    reset_ns: u64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.nativm_ns as f64 / self.native_ns as f64
    }

    /// Gas per ns of metered run time.
    fn gas_per_ns(&self) -> f64 {
        self.gas_used as f64 / self.nativm_ns as f64
    }
}

/// Median `run_ns` of `fib(0)`: the fixed cost of a warm call.
fn fixed_cost(engine: &Engine, store: &StateDb, fib: &Module, calls: usize) -> Res<u64> {
    let input = 0u64.to_le_bytes();
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 20 {
        let r = call(engine, store, fib, "fib", &input, BENCH_GAS)?;
        if r.outcome.status != Status::Ok {
            return Err(format!("fib(0): {}", r.to_text()));
        }
        if i >= 20 {
            times.push(r.diagnostics.run_ns);
        }
    }
    Ok(median(times))
}

fn overhead(engine: &Engine, store: &StateDb, sizes: &Sizes) -> Res<Vec<Row>> {
    let mut rows = Vec::new();
    for mut k in kernels(sizes) {
        eprintln!("timing {} ...", k.label);
        let module = load(engine, k.contract)?;
        // Native first: it also gives the expected output.
        let mut expected = None;
        let mut native = Vec::with_capacity(sizes.runs);
        for i in 0..WARMUP + sizes.runs {
            let (out, ns) = (k.native)();
            match &expected {
                None => expected = Some(out),
                Some(e) if *e != out => {
                    return Err(format!("{}: native output changed between runs", k.label))
                }
                Some(_) => {}
            }
            if i >= WARMUP {
                native.push(ns);
            }
        }
        let expected = expected.expect("at least one run");
        // The contract's own code, on the host.
        let elf = read(&nativm_images::contract_path(k.contract))?;
        let entry = module
            .artifact()
            .translation
            .methods
            .iter()
            .find(|m| m.name == k.method)
            .map(|m| m.original)
            .ok_or_else(|| format!("{}: no method {}", k.contract, k.method))?;
        let mut host = Vec::with_capacity(sizes.runs);
        {
            let mapped = host_run::Mapped::new(&elf)?;
            for i in 0..WARMUP + sizes.runs {
                let (out, ns) = mapped.call(entry, &k.input);
                if out != expected {
                    return Err(format!(
                        "{}: the contract's code on the host returned {out:02x?}, native {expected:02x?}",
                        k.label
                    ));
                }
                if i >= WARMUP {
                    host.push(ns);
                }
            }
        }
        let mut metered = Vec::with_capacity(sizes.runs);
        let (mut checks, mut pages, mut reset) = (Vec::new(), Vec::new(), Vec::new());
        let mut gas_used = None;
        for i in 0..WARMUP + sizes.runs {
            let r = call(engine, store, &module, k.method, &k.input, BENCH_GAS)?;
            if r.outcome.status != Status::Ok {
                return Err(format!("{} metered: {}", k.label, r.to_text()));
            }
            if r.outcome.return_data != expected {
                return Err(format!(
                    "{}: nativm returned {:02x?}, native {:02x?}",
                    k.label, r.outcome.return_data, expected
                ));
            }
            if *gas_used.get_or_insert(r.outcome.gas_used) != r.outcome.gas_used {
                return Err(format!(
                    "{}: gas_used {} then {}: not deterministic",
                    k.label,
                    gas_used.unwrap_or(0),
                    r.outcome.gas_used
                ));
            }
            if i >= WARMUP {
                metered.push(r.diagnostics.run_ns);
                checks.push(r.diagnostics.gas_checks);
                pages.push(r.diagnostics.pages_reset);
                reset.push(r.diagnostics.reset_ns);
            }
        }
        rows.push(Row {
            label: k.label,
            native_ns: median(native),
            host_ns: median(host),
            nativm_ns: median(metered),
            gas_used: gas_used.unwrap_or(0),
            gas_checks: median(checks),
            pages_reset: median(pages),
            reset_ns: median(reset),
        });
    }
    Ok(rows)
}

fn print_overhead(rows: &[Row], fixed: u64) {
    println!();
    println!(
        "fixed cost of a warm call (fib(0), median run_ns): {:.1} us",
        fixed as f64 / 1e3
    );
    println!();
    println!(
        "| kernel | native | nativm (metered) | ratio | ratio w/o fixed cost | gas used | gas/ns |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.3}x | {:.3}x | {} | {:.3} |",
            r.label,
            ms(r.native_ns),
            ms(r.nativm_ns),
            r.ratio(),
            r.nativm_ns.saturating_sub(fixed) as f64 / r.native_ns as f64,
            r.gas_used,
            r.gas_per_ns(),
        );
    }
    println!();
    println!(
        "where the time goes: the contract's own code run on the host (no gas, no VM) splits the ratio \
         into codegen (contract build vs this binary's build) and metering + guest; per nativm call, medians:"
    );
    println!();
    println!("| kernel | contract code on the host | host / native (codegen) | nativm / host (metering + guest) | backstop checks | pages reset | reset |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {} | {:.3}x | {:.3}x | {} | {} | {:.1} us |",
            r.label,
            ms(r.host_ns),
            r.host_ns as f64 / r.native_ns as f64,
            r.nativm_ns as f64 / r.host_ns as f64,
            r.gas_checks,
            r.pages_reset,
            r.reset_ns as f64 / 1e3
        );
    }
    let geomean = (rows.iter().map(|r| r.ratio().ln()).sum::<f64>() / rows.len() as f64).exp();
    let worst = rows
        .iter()
        .max_by(|a, b| a.ratio().total_cmp(&b.ratio()))
        .expect("rows");
    println!();
    println!(
        "geometric mean of the ratios: {geomean:.3}x ({:+.1}% over native; goal: at most +10%): {}",
        (geomean - 1.0) * 100.0,
        if geomean <= 1.10 { "met" } else { "MISSED" }
    );
    println!(
        "worst: {} at {:.3}x (goal: none above 1.25x): {}",
        worst.label,
        worst.ratio(),
        if worst.ratio() <= 1.25 {
            "met"
        } else {
            "MISSED"
        }
    );
}

/// Splits the sieve's extra time (nativm over the contract's code on the
/// host) into a part per call and a part per round, from a second pair of
/// medians with one round per call.
fn sieve_split(engine: &Engine, store: &StateDb, sizes: &Sizes, row: &Row) -> Res<()> {
    let rounds = sizes.sieve_rounds;
    let module = load(engine, "sieve")?;
    let mut input = SIEVE_N.to_le_bytes().to_vec();
    input.extend_from_slice(&1u64.to_le_bytes());
    let entry = module
        .artifact()
        .translation
        .methods
        .iter()
        .find(|m| m.name == "sieve_rounds")
        .map(|m| m.original)
        .ok_or("sieve: no method sieve_rounds")?;
    let elf = read(&nativm_images::contract_path("sieve"))?;
    let mut host = Vec::new();
    {
        let mapped = host_run::Mapped::new(&elf)?;
        for i in 0..WARMUP + sizes.runs {
            let (_, ns) = mapped.call(entry, &input);
            if i >= WARMUP {
                host.push(ns);
            }
        }
    }
    let mut metered = Vec::new();
    for i in 0..WARMUP + sizes.runs {
        let r = call(engine, store, &module, "sieve_rounds", &input, BENCH_GAS)?;
        if r.outcome.status != Status::Ok {
            return Err(format!("sieve x1: {}", r.to_text()));
        }
        if i >= WARMUP {
            metered.push(r.diagnostics.run_ns);
        }
    }
    let (host1, nativm1) = (median(host) as f64, median(metered) as f64);
    let extra1 = nativm1 - host1;
    let extra_n = row.nativm_ns as f64 - row.host_ns as f64;
    let per_round = (extra_n - extra1) / (rounds - 1) as f64;
    let per_call = extra1 - per_round;
    println!();
    println!(
        "sieve, nativm over the contract's code on the host: x1 {:.3} ms vs {:.3} ms, x{rounds} {:.3} ms vs {:.3} ms; \
         so {:.3} ms extra per call (of which the reset of {} pages: {:.3} ms) and {:.3} ms extra per round \
         ({:.1}% of a {:.3} ms round on the host)",
        nativm1 / 1e6,
        host1 / 1e6,
        row.nativm_ns as f64 / 1e6,
        row.host_ns as f64 / 1e6,
        per_call / 1e6,
        row.pages_reset,
        row.reset_ns as f64 / 1e6,
        per_round / 1e6,
        per_round / (row.host_ns as f64 / rounds as f64) * 100.0,
        row.host_ns as f64 / rounds as f64 / 1e6,
    );
    Ok(())
}

// ---- 2. runaway loop -------------------------------------------------------

fn runaway(engine: &Engine, store: &StateDb, fib: &Module, rate: f64, calls: usize) -> Res<()> {
    println!();
    println!(
        "runaway loop: fib(u64::MAX) with a gas limit of {LOOP_GAS}; fib's metered rate {rate:.3} gas/ns, \
         so the limit lasts {:.3} ms (backstop interval {} ms)",
        LOOP_GAS as f64 / rate / 1e6,
        nativm_vmm::backstop::BACKSTOP_INTERVAL.as_millis()
    );
    println!();
    println!("| call | status | wall time | run_ns | backstop checks | gas overshoot | lag = overshoot / rate |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    let mut worst: f64 = 0.0;
    for i in 0..calls {
        let r = call(engine, store, fib, "fib", &u64::MAX.to_le_bytes(), LOOP_GAS)?;
        if r.outcome.status != Status::OutOfGas {
            return Err(format!("fib(u64::MAX): {}", r.to_text()));
        }
        if r.outcome.gas_used != LOOP_GAS {
            return Err(format!(
                "fib(u64::MAX): gas_used {} != limit",
                r.outcome.gas_used
            ));
        }
        let lag_ns = r.diagnostics.gas_overshoot as f64 / rate;
        worst = worst.max(lag_ns);
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2} ms |",
            i + 1,
            r.outcome.status.as_str(),
            ms(r.diagnostics.wall_time_ns),
            ms(r.diagnostics.run_ns),
            r.diagnostics.gas_checks,
            r.diagnostics.gas_overshoot,
            lag_ns / 1e6
        );
    }
    println!();
    println!(
        "worst lag: {:.2} ms (goal: at most 50 ms): {}",
        worst / 1e6,
        if worst <= 50e6 { "met" } else { "MISSED" }
    );
    Ok(())
}

// ---- 3. preparation --------------------------------------------------------

fn median_time(runs: usize, mut f: impl FnMut()) -> u64 {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_nanos() as u64
            })
            .collect(),
    )
}

fn mb_s(bytes: u64, ns: u64) -> f64 {
    bytes as f64 / ns as f64 * 1e3
}

fn preparation(sizes: &Sizes) -> Res<()> {
    let config = nativm_verifier::Config::default();
    let mut inputs: Vec<(String, std::path::PathBuf)> =
        ["fib", "sha256", "sieve", "token", "counter"]
            .iter()
            .map(|n| (n.to_string(), nativm_images::contract_path(n)))
            .collect();
    eprintln!("building (or reusing) the generated contracts ...");
    inputs.push((
        "generated-small".into(),
        nativm_benches::generated_contract(nativm_benches::SMALL_FUNCTIONS),
    ));
    if sizes.prep_large {
        inputs.push((
            "generated-large".into(),
            nativm_benches::generated_contract(nativm_benches::LARGE_FUNCTIONS),
        ));
    }
    println!();
    println!(
        "preparation: medians of {} runs ({} for generated-large); MB/s = 10^6 bytes of original code per second",
        sizes.prep_runs, sizes.prep_runs_large
    );
    println!();
    println!("| input | code bytes | prepared bytes | blocks | verify | verify MB/s | translate | translate MB/s | prepare (both) | prepare MB/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, path) in &inputs {
        let elf = read(path)?;
        let runs = if name == "generated-large" {
            sizes.prep_runs_large
        } else {
            sizes.prep_runs
        };
        let translation =
            nativm_gas::prepare(&elf, &config).map_err(|e| format!("{name}: prepare: {e}"))?;
        let stats = translation.stats;
        let verify_ns = median_time(runs, || {
            black_box(nativm_verifier::verify(black_box(&elf), &config));
        });
        let mut violations = Vec::new();
        let parsed = nativm_verifier::elf::check(&elf, &config, &mut violations);
        if !violations.is_empty() {
            return Err(format!("{name}: ELF check failed"));
        }
        let translate_ns = median_time(runs, || {
            black_box(
                nativm_gas::translate(black_box(&parsed.code), &parsed.functions)
                    .expect("translated once already"),
            );
        });
        let prepare_ns = median_time(runs, || {
            black_box(
                nativm_gas::prepare(black_box(&elf), &config).expect("prepared once already"),
            );
        });
        let code = stats.code_bytes;
        println!(
            "| {name} | {code} | {} | {} | {} | {:.1} | {} | {:.1} | {} | {:.1} |",
            stats.prepared_bytes,
            stats.blocks,
            ms(verify_ns),
            mb_s(code, verify_ns),
            ms(translate_ns),
            mb_s(code, translate_ns),
            ms(prepare_ns),
            mb_s(code, prepare_ns)
        );
    }
    Ok(())
}

fn read(path: &Path) -> Res<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

// ---- the contract's own code on the host ---------------------------------

/// Runs a contract's original (untranslated) code natively in this process:
/// its `PT_LOAD` segments mapped at their addresses, and at
/// `HOSTCALL_ENTRY` a trampoline to [`host_call`], which serves
/// `set_return` and `abort` (all these kernels use). No gas, no VM: the
/// difference to the bench's own build of the kernel is codegen (the
/// contract's flags, LTO, the SDK's `memset`), the difference to nativm is
/// metering plus running in a guest.
mod host_run {
    use std::sync::Mutex;

    /// The pages mapped for the runtime (trampoline, then zeroed pages
    /// where the call-info page and the mailbox would be).
    const RUNTIME_PAGES: usize = 3;

    static RETURN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    extern "C" fn host_call(nr: u64, a0: u64, a1: u64, _a2: u64, _a3: u64) -> u64 {
        // SAFETY: the contract passes a pointer and length into its own
        // memory or its input, both mapped.
        let data = |p: u64, l: u64| unsafe {
            if l == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p as *const u8, l as usize)
            }
        };
        match nr {
            nativm_abi::hostcall::SET_RETURN => {
                let mut r = RETURN.lock().unwrap_or_else(|e| e.into_inner());
                r.clear();
                r.extend_from_slice(data(a0, a1));
                0
            }
            _ => {
                eprintln!(
                    "contract code on the host: host call {nr} ({:?}): unsupported here",
                    String::from_utf8_lossy(data(a0, a1.min(4096)))
                );
                std::process::abort();
            }
        }
    }

    /// One contract mapped into this process; unmapped on drop.
    pub struct Mapped {
        maps: Vec<(usize, usize)>,
    }

    fn map_fixed(addr: usize, len: usize) -> Result<(), String> {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p as usize != addr {
            return Err(format!(
                "cannot map {len:#x} bytes at {addr:#x} (in use?): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    fn protect(addr: usize, len: usize, prot: i32) -> Result<(), String> {
        // SAFETY: the range was mapped by `map_fixed`.
        if unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } != 0 {
            return Err(format!(
                "mprotect {addr:#x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    fn u16_at(b: &[u8], o: usize) -> usize {
        u16::from_le_bytes([b[o], b[o + 1]]) as usize
    }
    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
    }
    fn u64_at(b: &[u8], o: usize) -> usize {
        u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes")) as usize
    }

    impl Mapped {
        /// Maps `elf` (a verified contract: ELF64, segments in the contract
        /// window, none sharing a page) and the runtime trampoline.
        pub fn new(elf: &[u8]) -> Result<Mapped, String> {
            const PAGE: usize = 4096;
            let mut mapped = Mapped { maps: Vec::new() };
            let runtime = nativm_abi::HOSTCALL_ENTRY as usize;
            map_fixed(runtime, RUNTIME_PAGES * PAGE)?;
            mapped.maps.push((runtime, RUNTIME_PAGES * PAGE));
            // movabs rax, host_call; jmp rax
            let mut tramp = vec![0x48, 0xb8];
            tramp.extend_from_slice(&(host_call as *const () as usize as u64).to_le_bytes());
            tramp.extend_from_slice(&[0xff, 0xe0]);
            // SAFETY: the page was just mapped writable.
            unsafe {
                std::ptr::copy_nonoverlapping(tramp.as_ptr(), runtime as *mut u8, tramp.len())
            };
            protect(runtime, PAGE, libc::PROT_READ | libc::PROT_EXEC)?;

            let (phoff, phentsize, phnum) =
                (u64_at(elf, 0x20), u16_at(elf, 0x36), u16_at(elf, 0x38));
            for i in 0..phnum {
                let ph = phoff + i * phentsize;
                if u32_at(elf, ph) != 1 {
                    continue; // not PT_LOAD
                }
                let flags = u32_at(elf, ph + 4);
                let (offset, vaddr) = (u64_at(elf, ph + 8), u64_at(elf, ph + 16));
                let (filesz, memsz) = (u64_at(elf, ph + 32), u64_at(elf, ph + 40));
                let start = vaddr & !(PAGE - 1);
                let len = (vaddr + memsz).next_multiple_of(PAGE) - start;
                map_fixed(start, len)?;
                mapped.maps.push((start, len));
                // SAFETY: [vaddr, vaddr + filesz) lies in the new mapping.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        elf[offset..offset + filesz].as_ptr(),
                        vaddr as *mut u8,
                        filesz,
                    )
                };
                let mut prot = libc::PROT_READ;
                if flags & 2 != 0 {
                    prot |= libc::PROT_WRITE;
                }
                if flags & 1 != 0 {
                    prot |= libc::PROT_EXEC;
                }
                protect(start, len, prot)?;
            }
            Ok(mapped)
        }

        /// Calls the method at `entry` with `input`; returns its return data
        /// and the ns the method took.
        pub fn call(&self, entry: u64, input: &[u8]) -> (Vec<u8>, u64) {
            // SAFETY: `entry` is a verified method of the mapped contract:
            // a System V function taking (input pointer, length).
            let method: extern "C" fn(*const u8, u64) =
                unsafe { std::mem::transmute(entry as usize) };
            RETURN.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let start = std::time::Instant::now();
            method(std::hint::black_box(input.as_ptr()), input.len() as u64);
            let ns = start.elapsed().as_nanos() as u64;
            let out = std::mem::take(&mut *RETURN.lock().unwrap_or_else(|e| e.into_inner()));
            (out, ns)
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            for &(addr, len) in &self.maps {
                // SAFETY: mapped by `Mapped::new`; no reference into it remains.
                unsafe { libc::munmap(addr as *mut libc::c_void, len) };
            }
        }
    }
}
