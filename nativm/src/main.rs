//! The `nativm` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use nativm::{CallOptions, Deployment, Engine, EngineConfig, Error, Module, StateDb};

mod cli;

/// Exit code when the call ended `ok`.
const EXIT_OK: u8 = 0;
/// Exit code when the contract failed (reverted, trap, out_of_gas).
const EXIT_CONTRACT_FAILED: u8 = 1;
/// Exit code for bad usage or input (missing file, not an ELF, unknown method).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code when the host failed (no /dev/kvm, state store error, the
/// wall-clock limit passed).
const EXIT_HOST_ERROR: u8 = 3;

#[derive(Parser)]
#[command(
    name = "nativm",
    version,
    about = "Run x86-64 smart contracts natively in KVM micro-VMs",
    after_help = "Exit codes of `run`: 0 the call ended ok; 1 the contract failed (reverted, trap, out_of_gas); \
                  2 bad usage or input (missing file, not an ELF, a contract that does not verify or cannot be prepared, \
                  unknown method, an address or code hash not in --state, a gas limit above 2^62); \
                  3 the host failed (no /dev/kvm, state store error, or the call ran past --timeout-ms: a wall-clock \
                  limit is not a result of the contract, so no receipt is printed, nothing is committed and the call may be retried). \
                  Exit codes of `deploy`: 0 deployed; 2 bad input (as for `run`); 3 host failure. \
                  Exit codes of `verify`: 0 verified; 1 rejected; 2 unreadable file. \
                  Exit codes of `block`: 0 executed and committed (whatever each transaction's status); 2 a bad block file or \
                  transaction (no account, unknown method, bad input or gas; nothing ran); 3 host failure (nothing committed). \
                  Exit codes of `state`: 0 done; 2 a bad argument or a missing state file; 3 host failure."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one method of a contract in a fresh KVM guest and print its receipt.
    /// A contract that does not verify is refused with the verifier's report.
    Run(RunArgs),
    /// Verify and prepare a contract, store it with its artifact in a
    /// state file, and create its account at the address
    /// sha256("nativm/address" || deployer || salt || code_hash); prints its
    /// code hash (with --json: address, code_hash, code_bytes, ...). `run`
    /// accepts the address or the code hash in place of the ELF path.
    Deploy(DeployArgs),
    /// Inspect a state file: its root, a value with its Merkle proof, a dump.
    #[command(subcommand)]
    State(cli::state::StateCommand),
    /// Execute a block of transactions (a JSON file) as one atomic unit, in
    /// parallel, with the result of executing them in block order.
    Block(cli::block::BlockArgs),
    /// Verify that a contract uses only the Deterministic AMD64 subset.
    /// Exit code 0 and a one-line summary when it verifies; 1 and the full
    /// report when it does not; 2 when the file cannot be read.
    Verify(VerifyArgs),
    /// Run warm calls on a pool of workers and report throughput, latency
    /// percentiles, VM exits and ioctls per call, reset cost, and the cost of
    /// one bare exit round trip from guest ring 3 measured in the same run.
    Bench(BenchArgs),
    /// Run one method under a GDB stub: waits for GDB (`target remote
    /// ADDR`) with the guest stopped at the method's entry; breakpoints,
    /// steps, registers and memory in the ELF's addresses. Prints the
    /// receipt when the call ends. Exit codes as for `run`.
    Debug(DebugArgs),
}

#[derive(Args)]
struct DebugArgs {
    /// The contract: a static x86-64 ELF executable.
    contract: PathBuf,
    /// The method to call.
    method: String,
    /// Input bytes as hex.
    #[arg(long)]
    input: Option<String>,
    /// Address to serve the GDB remote protocol on, e.g. 127.0.0.1:1234
    /// (port 0: any free port; the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    gdb: String,
    /// Gas limit of the call.
    #[arg(long, value_name = "N", default_value_t = nativm_gas::DEFAULT_GAS_LIMIT)]
    gas: u64,
    /// Print the receipt as one JSON object.
    #[arg(long)]
    json: bool,
}

fn debug(args: DebugArgs) -> Result<u8, Failure> {
    let input = parse_hex("input", args.input.as_deref().unwrap_or(""))?;
    let engine = Engine::new(EngineConfig::default())?;
    let module = Module::from_file(&engine, &args.contract)?;
    let options = CallOptions {
        gas_limit: Some(args.gas),
        ..CallOptions::with_input(input)
    };
    let store = StateDb::in_memory();
    let listening = |addr| eprintln!("nativm debug: waiting for GDB on {addr}");
    let receipt = nativm::debug::debug_call(
        &engine,
        &module,
        &store,
        &args.method,
        &options,
        &args.gdb,
        listening,
    )?;
    if args.json {
        println!("{}", receipt.to_json());
    } else {
        print!("{}", receipt.to_text());
    }
    Ok(if receipt.is_ok() {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    })
}

#[derive(Args)]
struct BenchArgs {
    /// The contract: a static x86-64 ELF executable.
    contract: PathBuf,
    /// The method to call.
    method: String,
    /// Input bytes as hex, the same for every call.
    #[arg(long)]
    input: Option<String>,
    /// Number of calls.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    calls: usize,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "W", default_value_t = 0)]
    workers: usize,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The contract: an x86-64 ELF executable.
    contract: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Also list the indirect branches of a contract that verifies.
    #[arg(long)]
    verbose: bool,
    /// Admit AVX and AVX2 instructions (off by default).
    #[arg(long)]
    allow_avx2: bool,
}

/// The code hash a `run` argument names: 64 hex digits (optionally `0x`)
/// that are not the name of an existing file.
fn code_hash_arg(arg: &str) -> Option<[u8; 32]> {
    if std::path::Path::new(arg).exists() {
        return None;
    }
    let digits = arg.strip_prefix("0x").unwrap_or(arg);
    hex::decode(digits).ok()?.try_into().ok()
}

#[derive(Args)]
struct DeployArgs {
    /// The contract: a static x86-64 ELF executable.
    contract: PathBuf,
    /// The state file to deploy to (redb, created if missing).
    #[arg(long, value_name = "PATH")]
    state: PathBuf,
    /// The salt: up to 32 bytes as hex, zeros on the left (default 0).
    #[arg(long, value_name = "HEX")]
    salt: Option<String>,
    /// The deployer: up to 32 bytes as hex, zeros on the left (default 0).
    #[arg(long, value_name = "HEX")]
    deployer: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    /// The contract: a static x86-64 ELF executable (run as a throwaway
    /// contract whose storage is keyed by its code hash), the address (64
    /// hex digits) of an account in the --state file, or the code hash of a
    /// contract deployed to it.
    contract: String,
    /// The method: an exported function symbol of the contract.
    method: String,
    /// Input bytes as hex (e.g. 1900000000000000 for the u64 25).
    #[arg(long, conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the input bytes from this file.
    #[arg(long, value_name = "PATH")]
    input_file: Option<PathBuf>,
    /// The caller's identity: 32 bytes as 64 hex digits (default all zero).
    #[arg(long, value_name = "HEX32")]
    caller: Option<String>,
    /// Contract state in this redb file, created if missing; without it,
    /// state lives in memory for this one call.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Gas limit of the call.
    #[arg(long, value_name = "N", default_value_t = nativm_gas::DEFAULT_GAS_LIMIT)]
    gas: u64,
    /// Wall-clock limit of the call in milliseconds. A call stopped by it is
    /// a host failure (exit code 3, no receipt, nothing committed), not a
    /// contract outcome.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    timeout_ms: u64,
    /// A storage key (hex) the call will read or write, served in the
    /// guest without a VM exit; repeat for more. Same receipt either way.
    #[arg(long, value_name = "HEX")]
    access_list: Vec<String>,
    /// Guest heap size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = EngineConfig::default().heap_size)]
    heap_size: u64,
    /// Guest stack size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = EngineConfig::default().stack_size)]
    stack_size: u64,
    /// Print the receipt as one JSON object.
    #[arg(long)]
    json: bool,
}

/// A failure before or around the call, with its exit code.
struct Failure {
    code: u8,
    message: String,
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_BAD_INPUT,
        message: message.into(),
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // A rejected contract: the one-line error, then the full report.
        let message = match &e {
            Error::Rejected { report, .. } => {
                let text = report.to_text();
                let details = text.split_once('\n').map_or("", |(_, rest)| rest);
                format!("{e}\n{}", details.trim_end())
            }
            _ => e.to_string(),
        };
        let code = match e {
            Error::Read { .. }
            | Error::InvalidContract { .. }
            | Error::Rejected { .. }
            | Error::UnknownMethod { .. }
            | Error::Prepare { .. }
            | Error::NotDeployed { .. }
            | Error::NoAccount { .. }
            | Error::BlockFile { .. }
            | Error::TransactionField { .. }
            | Error::TransactionRefused { .. }
            | Error::InputTooLarge { .. }
            | Error::GasLimitTooHigh { .. }
            | Error::DebugListen { .. } => EXIT_BAD_INPUT,
            Error::State(_)
            | Error::HostCall { .. }
            | Error::Timeout { .. }
            | Error::StoredCodeCorrupt { .. }
            | Error::ExecutorShutDown
            | Error::SpawnWorker { .. }
            | Error::WorkerStopped { .. }
            | Error::BlockIncomplete { .. }
            | Error::Vmm(_) => EXIT_HOST_ERROR,
        };
        Failure { code, message }
    }
}

fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|e| bad_input(format!("--{what}: not hex ({e}): {text:?}")))
}

fn run(args: RunArgs) -> Result<u8, Failure> {
    let input = match (&args.input, &args.input_file) {
        (Some(text), _) => parse_hex("input", text)?,
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| bad_input(format!("--input-file {}: {e}", path.display())))?,
        (None, None) => Vec::new(),
    };
    let caller = match &args.caller {
        None => [0u8; 32],
        Some(text) => parse_hex("caller", text)?
            .try_into()
            .map_err(|v: Vec<u8>| {
                bad_input(format!(
                    "--caller must be 32 bytes (64 hex digits), got {} bytes",
                    v.len()
                ))
            })?,
    };
    let config = EngineConfig {
        heap_size: check_size("--heap-size", args.heap_size, 0, nativm_abi::MAX_HEAP_SIZE)?,
        stack_size: check_size(
            "--stack-size",
            args.stack_size,
            4 * nativm_abi::PAGE_SIZE,
            nativm_abi::MAX_STACK_SIZE,
        )?,
        default_timeout: Duration::from_millis(check_timeout(args.timeout_ms)?),
        ..EngineConfig::default()
    };
    let engine = Engine::new(config)?;
    let store = match &args.state {
        Some(path) => StateDb::open(path)?,
        None => StateDb::in_memory(),
    };
    let access_list = args
        .access_list
        .iter()
        .map(|key| parse_hex("access-list", key))
        .collect::<Result<Vec<_>, _>>()?;
    let options = CallOptions {
        input,
        caller,
        timeout: None,
        gas_limit: Some(args.gas),
        access_list,
    };
    let module = match code_hash_arg(&args.contract) {
        Some(id) => {
            if args.state.is_none() {
                return Err(bad_input(format!(
                    "{} is an address or a code hash: give the --state file it was deployed to",
                    args.contract
                )));
            }
            if store.backend().account(&id).map_err(Error::from)?.is_some() {
                let receipt = engine.call_account(&store, &id, &args.method, &options)?;
                return Ok(print_receipt(&receipt, args.json));
            }
            match Module::from_code_hash(&engine, &store, &id) {
                Err(Error::NotDeployed { .. }) => {
                    return Err(bad_input(format!(
                        "no account at address {0} and no contract with code hash {0} is deployed in {1}",
                        hex::encode(id),
                        args.state.as_deref().unwrap_or(std::path::Path::new("")).display()
                    )))
                }
                other => other?,
            }
        }
        None if args.state.is_some() => {
            // Through the store's code store: prepared once, run many times.
            let path = PathBuf::from(&args.contract);
            let bytes = std::fs::read(&path)
                .map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))?;
            Module::deploy(&engine, &store, &bytes).map_err(|e| e.with_path(&path))?
        }
        None => Module::from_file(&engine, &args.contract)?,
    };
    let receipt = engine.call(&module, &store, &args.method, &options)?;
    Ok(print_receipt(&receipt, args.json))
}

/// A size flag: a whole number of pages within `min..=max` bytes.
fn check_size(flag: &str, bytes: u64, min: u64, max: u64) -> Result<u64, Failure> {
    if bytes < min || bytes > max || !bytes.is_multiple_of(nativm_abi::PAGE_SIZE) {
        return Err(bad_input(format!(
            "{flag} must be a multiple of {} bytes between {min} and {max}, got {bytes}",
            nativm_abi::PAGE_SIZE
        )));
    }
    Ok(bytes)
}

/// `--timeout-ms` must be at least 1 ms (and at most a day).
fn check_timeout(ms: u64) -> Result<u64, Failure> {
    const DAY_MS: u64 = 24 * 3600 * 1000;
    if ms == 0 || ms > DAY_MS {
        return Err(bad_input(format!(
            "--timeout-ms must be between 1 and {DAY_MS} (a day), got {ms}"
        )));
    }
    Ok(ms)
}

/// Prints a receipt; returns the exit code its status gives.
fn print_receipt(receipt: &nativm::Receipt, json: bool) -> u8 {
    if json {
        println!("{}", receipt.to_json());
    } else {
        print!("{}", receipt.to_text());
    }
    if receipt.is_ok() {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    }
}

/// A library error as a CLI failure with its exit code.
fn failure(e: Error) -> cli::Failure {
    let f = Failure::from(e);
    cli::Failure {
        code: f.code,
        message: f.message,
    }
}

fn deploy(args: DeployArgs) -> Result<u8, Failure> {
    let bytes = std::fs::read(&args.contract)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", args.contract.display())))?;
    let deployment = Deployment {
        deployer: match &args.deployer {
            Some(text) => cli::parse_hex_left_padded("--deployer", text).map_err(from_cli)?,
            None => [0; 32],
        },
        salt: match &args.salt {
            Some(text) => cli::parse_hex_left_padded("--salt", text).map_err(from_cli)?,
            None => [0; 32],
        },
    };
    let engine = Engine::new(EngineConfig::default())?;
    let existed = args.state.exists();
    let store = StateDb::open(&args.state)?;
    let deployed = match engine.deploy(&store, &bytes, &deployment) {
        Ok(deployed) => deployed,
        Err(e) => {
            // A refused contract leaves no new state file behind.
            drop(store);
            if !existed {
                let _ = std::fs::remove_file(&args.state);
            }
            return Err(e.with_path(&args.contract).into());
        }
    };
    let module = &deployed.module;
    let prepared = module.artifact();
    let stats = &prepared.translation.stats;
    let result = serde_json::json!({
        "address": hex::encode(deployed.address),
        "account": if deployed.created { "created" } else { "existed" },
        "deployer": hex::encode(deployment.deployer),
        "salt": hex::encode(deployment.salt),
        "code_hash": hex::encode(module.code_hash()),
        "prepared": match module.artifact_origin() {
            nativm::ArtifactOrigin::Prepared => "now",
            nativm::ArtifactOrigin::Memory | nativm::ArtifactOrigin::StateDb => "cached",
            nativm::ArtifactOrigin::Rebuilt(_) => "rebuilt",
        },
        "methods": module.methods().map(|(name, _)| name).collect::<Vec<_>>(),
        "code_bytes": stats.code_bytes,
        "prepared_bytes": stats.prepared_bytes,
        "table_bytes": prepared.translation.table_bytes(),
        "blocks": stats.blocks,
        "verify_ns": prepared.verify_ns,
        "translate_ns": prepared.translate_ns,
        "cost_table_version": prepared.cost_table_version,
    });
    if args.json {
        println!("{result}");
    } else {
        println!("{}", hex::encode(module.code_hash()));
        eprintln!(
            "deployed {} to {} at address {} ({} methods; {} code bytes -> {} prepared, {} blocks; {})",
            args.contract.display(),
            args.state.display(),
            hex::encode(deployed.address),
            module.methods().count(),
            stats.code_bytes,
            stats.prepared_bytes,
            stats.blocks,
            match module.artifact_origin() {
                nativm::ArtifactOrigin::Prepared => "prepared now".to_string(),
                nativm::ArtifactOrigin::Memory => "already prepared".to_string(),
                nativm::ArtifactOrigin::StateDb =>
                    "verified and translated again; equal to the stored image".to_string(),
                nativm::ArtifactOrigin::Rebuilt(why) =>
                    format!("stored image refused ({why:?}): prepared again and replaced"),
            }
        );
    }
    Ok(EXIT_OK)
}

fn verify(args: VerifyArgs) -> Result<u8, Failure> {
    let bytes = std::fs::read(&args.contract)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", args.contract.display())))?;
    let config = nativm_verifier::Config {
        allow_avx2: args.allow_avx2,
        ..Default::default()
    };
    let report = nativm_verifier::verify(&bytes, &config);
    if args.json {
        println!("{}", report.to_json());
    } else if report.is_ok() && !args.verbose {
        println!("{}: {}", args.contract.display(), report.summary());
    } else {
        print!("{}: {}", args.contract.display(), report.to_text());
    }
    Ok(if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_CONTRACT_FAILED
    })
}

/// The quantile `per_mille / 1000` of sorted values (nearest rank, rounded
/// half up); 0 for no values.
fn quantile(sorted: &[u64], per_mille: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) * per_mille + 500) / 1000;
    sorted[i.min(sorted.len() - 1)]
}

/// Totals over the timed calls of `nativm bench`.
#[derive(Default)]
struct BenchTotals {
    /// Each call's time inside the engine, in nanoseconds, sorted.
    latencies: Vec<u64>,
    exits: u64,
    /// Backstop interruptions (each one VM exit), counted apart.
    gas_checks: u64,
    ioctls: u64,
    reset_ns: u64,
    pages: u64,
    failed: u64,
    warm: u64,
    elapsed: Duration,
}

/// Submits `calls` calls of `method` and waits for them all.
fn timed_calls(
    executor: &nativm::Executor,
    module: &std::sync::Arc<Module>,
    store: &std::sync::Arc<StateDb>,
    method: &str,
    input: &[u8],
    calls: usize,
    show_progress: bool,
) -> Result<BenchTotals, Failure> {
    let progress = if show_progress {
        indicatif::ProgressBar::new(calls as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..calls)
        .map(|_| {
            executor.submit(
                module,
                store,
                method,
                CallOptions::with_input(input.to_vec()),
            )
        })
        .collect();
    let mut t = BenchTotals {
        latencies: Vec::with_capacity(calls),
        ..Default::default()
    };
    for handle in handles {
        let r = handle.wait()?;
        t.latencies.push(r.diagnostics.wall_time_ns);
        t.exits += r.diagnostics.vm_exits;
        t.gas_checks += r.diagnostics.gas_checks;
        t.ioctls += r.diagnostics.ioctls;
        t.reset_ns += r.diagnostics.reset_ns;
        t.pages += r.diagnostics.pages_reset;
        t.failed += u64::from(!r.is_ok());
        t.warm += u64::from(r.diagnostics.warm);
        progress.inc(1);
    }
    t.elapsed = started.elapsed();
    progress.finish_and_clear();
    t.latencies.sort_unstable();
    Ok(t)
}

fn bench(args: BenchArgs) -> Result<u8, Failure> {
    use std::io::IsTerminal;
    use std::sync::Arc;

    let input = match &args.input {
        Some(text) => parse_hex("input", text)?,
        None => Vec::new(),
    };
    if args.calls == 0 {
        return Err(bad_input("--calls must be at least 1"));
    }
    let executor = nativm::Executor::new(EngineConfig::default(), args.workers)?;
    let module = Arc::new(Module::from_file(executor.engine(), &args.contract)?);
    let store = Arc::new(StateDb::in_memory());
    executor.prewarm(&module)?;
    // One call per worker first, so every guest has booted before timing.
    let warmup: Vec<_> = (0..executor.workers())
        .map(|_| {
            executor.submit(
                &module,
                &store,
                &args.method,
                CallOptions::with_input(input.clone()),
            )
        })
        .collect();
    for handle in warmup {
        handle.wait()?;
    }
    let kvm = nativm_vmm::open_kvm().map_err(Error::Vmm)?;
    let roundtrip_ns = nativm_vmm::measure_exit_roundtrip(&kvm, 2000).map_err(Error::Vmm)?;
    let show_progress = !args.json && std::io::stdout().is_terminal();
    let t = timed_calls(
        &executor,
        &module,
        &store,
        &args.method,
        &input,
        args.calls,
        show_progress,
    )?;
    let n = args.calls as f64;
    let p50 = quantile(&t.latencies, 500);
    let result = serde_json::json!({
        "contract": args.contract.display().to_string(),
        "method": args.method,
        "calls": args.calls,
        "workers": executor.workers(),
        "failed_calls": t.failed,
        "warm_calls": t.warm,
        "calls_per_sec": n / t.elapsed.as_secs_f64(),
        "p50_ns": p50,
        "p99_ns": quantile(&t.latencies, 990),
        "p999_ns": quantile(&t.latencies, 999),
        "exits_per_call": t.exits as f64 / n,
        "backstop_exits_per_call": t.gas_checks as f64 / n,
        "ioctls_per_call": t.ioctls as f64 / n,
        "reset_ns_per_call": t.reset_ns as f64 / n,
        "pages_reset_per_call": t.pages as f64 / n,
        "exit_roundtrip_ns": roundtrip_ns,
        "p50_over_exit_roundtrip": p50 as f64 / roundtrip_ns.max(1) as f64,
    });
    if args.json {
        println!("{result}");
    } else {
        print_bench(&result, t.failed);
    }
    Ok(EXIT_OK)
}

/// Prints `nativm bench`'s results for a terminal.
fn print_bench(result: &serde_json::Value, failed: u64) {
    let us = |v: &serde_json::Value| v.as_u64().unwrap_or(0) as f64 / 1e3;
    let f = |key: &str| result[key].as_f64().unwrap_or(0.0);
    println!(
        "{} {} x {} on {} workers",
        result["contract"].as_str().unwrap_or(""),
        result["method"].as_str().unwrap_or(""),
        result["calls"],
        result["workers"]
    );
    println!("  calls/s           {:.0}", f("calls_per_sec"));
    println!(
        "  latency           p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
        us(&result["p50_ns"]),
        us(&result["p99_ns"]),
        us(&result["p999_ns"])
    );
    println!("  VM exits/call     {:.2}", f("exits_per_call"));
    println!("  ioctls/call       {:.2}", f("ioctls_per_call"));
    println!(
        "  reset/call        {:.1} us, {:.1} pages",
        f("reset_ns_per_call") / 1e3,
        f("pages_reset_per_call")
    );
    println!(
        "  exit round trip   {:.1} us (null guest, ring 3); p50 = {:.2}x that",
        f("exit_roundtrip_ns") / 1e3,
        f("p50_over_exit_roundtrip")
    );
    if failed > 0 {
        println!("  failed calls      {failed} (status other than ok)");
    }
}

/// A CLI module's failure as this file's.
fn from_cli(f: cli::Failure) -> Failure {
    Failure {
        code: f.code,
        message: f.message,
    }
}

fn main() -> ExitCode {
    // A closed stdout (`nativm verify --verbose | head`) ends the process
    // quietly, as for any Unix filter, instead of a panic in `println!`.
    // SAFETY: restoring the default disposition of SIGPIPE before any
    // thread is started; no handler runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Verify(args) => verify(args),
        Command::Deploy(args) => deploy(args),
        Command::Bench(args) => bench(args),
        Command::State(command) => cli::state::run(command).map_err(from_cli),
        Command::Block(args) => cli::block::run(args).map_err(from_cli),
        Command::Debug(args) => debug(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("nativm: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
