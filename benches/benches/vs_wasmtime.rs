//! nativm against Wasmtime on the same C kernels (issue 5).
//!
//! Run (needs `/dev/kvm`, clang and lld; `scripts/install-deps` installs
//! the tools):
//!
//! ```sh
//! cargo bench -p nativm-benches --bench vs_wasmtime --features wasmtime-compare
//! ```
//!
//! One C source, `images/contracts/c/bench_kernels.c`, is compiled here by
//! clang at -O2 twice: for `wasm32-unknown-unknown` (a Wasmtime module) and
//! for x86-64 with the C contract flags (a nativm contract). The bundled
//! build of the same file by gcc -O2 (`target/contracts/bench_kernels.elf`)
//! runs too, as an extra column.
//!
//! Per call, timed on this thread:
//! - Wasmtime: a new `Store` with fuel, instantiation of a pre-linked module
//!   from the pooling allocator, the input written into linear memory (for
//!   sha256), the call, the output read back. This is what a validator pays
//!   per transaction: a fresh instance per call, with metering.
//! - nativm: `Engine::call` on a warm guest of this thread (prewarmed), which
//!   writes the input, runs the method and resets the guest.
//!
//! Each side's output is checked against a host reference (the `sha2` crate
//! for sha256) on every call. The summary prints medians (ns per call) and
//! the ratio nativm / Wasmtime-with-fuel (below 1: nativm is faster), plus
//! Wasmtime without fuel, Wasmtime's instantiation alone and the cost of a
//! bare nativm VM exit round trip, every one measured in this run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nativm::{CallOptions, Engine as NvEngine, EngineConfig, Module as NvModule, StateDb, Status};
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine as WtEngine, InstanceAllocationStrategy, InstancePre, Linker,
    Module as WtModule, PoolingAllocationConfig, Store as WtStore,
};

/// Fuel given to every Wasmtime call: far more than any kernel here burns.
const FUEL: u64 = 1_000_000_000;
/// `n` of the fib kernel: about a millisecond of native code here (one
/// dependent add per step).
const FIB_N: u64 = 3_000_000;
/// Input size of the sha256 kernel.
const SHA_LEN: usize = 64 * 1024;
/// Untimed calls before each timed series.
const WARMUP: usize = 20;

type Res<T> = Result<T, String>;

/// One benchmarked call: a method, its input and the expected output.
struct Kernel {
    name: &'static str,
    /// `trivial(0)`, `fib(FIB_N)` or `sha256(SHA_LEN bytes)`.
    label: String,
    input: Input,
    expected: Vec<u8>,
    calls: usize,
}

enum Input {
    /// A u64 argument (Wasm: an i64 parameter; nativm: 8 bytes LE).
    U64(u64),
    /// A byte string (Wasm: written to `input_buffer()`; nativm: the input).
    Bytes(Vec<u8>),
}

impl Input {
    fn nativm_bytes(&self) -> Vec<u8> {
        match self {
            Input::U64(n) => n.to_le_bytes().to_vec(),
            Input::Bytes(b) => b.clone(),
        }
    }
}

fn fib_reference(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}

fn kernels() -> Vec<Kernel> {
    // Deterministic pseudo-random bytes (xorshift64).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..SHA_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let digest = Sha256::digest(&data).to_vec();
    vec![
        Kernel {
            name: "trivial",
            label: "trivial(0)".into(),
            input: Input::U64(0),
            expected: 0u64.to_le_bytes().to_vec(),
            calls: 10_000,
        },
        Kernel {
            name: "fib",
            label: format!("fib({FIB_N})"),
            input: Input::U64(FIB_N),
            expected: fib_reference(FIB_N).to_le_bytes().to_vec(),
            calls: 1000,
        },
        Kernel {
            name: "sha256",
            label: format!("sha256({} KiB)", SHA_LEN / 1024),
            input: Input::Bytes(data),
            expected: digest,
            calls: 1000,
        },
    ]
}

// ---- building the kernels ----------------------------------------------

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kernels_source() -> PathBuf {
    repo_root().join("images/contracts/c/bench_kernels.c")
}

fn out_dir() -> Res<PathBuf> {
    // <target>/contracts -> <target>/bench-contracts
    let target = nativm_images::contracts_dir()
        .parent()
        .map(Path::to_path_buf)
        .ok_or("contracts_dir has no parent")?;
    let dir = target.join("bench-contracts");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn run_tool(cmd: &mut Command, what: &str) -> Res<()> {
    let out = cmd.output().map_err(|e| {
        format!("cannot run {what} ({e}); run scripts/install-deps (it installs clang and lld)")
    })?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {cmd:?}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The clang flags both builds share: -O2, C11, freestanding, no builtins.
const CLANG_COMMON: &[&str] = &["-O2", "-std=c11", "-Wall", "-Wextra"];

/// `bench_kernels.wasm`, built by clang (wasm-ld from lld links it).
fn build_wasm(dir: &Path) -> Res<PathBuf> {
    let wasm = dir.join("bench_kernels.wasm");
    let mut cmd = Command::new("clang");
    cmd.arg("--target=wasm32-unknown-unknown")
        .args(CLANG_COMMON)
        .args(["-ffreestanding", "-fno-builtin", "-nostdlib"])
        .args(["-Wl,--no-entry", "-Wl,--export-dynamic"])
        .arg(kernels_source())
        .arg("-o")
        .arg(&wasm);
    run_tool(&mut cmd, "clang (wasm32)")?;
    Ok(wasm)
}

/// `bench_kernels-clang.elf`: the nativm contract, built by clang with the
/// C contract flags, hidden symbols localized as `images/build.rs` does.
fn build_nativm_clang(dir: &Path) -> Res<PathBuf> {
    let raw = dir.join("bench_kernels-clang.raw.elf");
    let elf = dir.join("bench_kernels-clang.elf");
    let mut cmd = Command::new("clang");
    cmd.args(CLANG_COMMON)
        .args(nativm_images::C_CONTRACT_FLAGS)
        // nativm.h's gcc-only `optimize` attribute; `-no-pie` at link time.
        .args([
            "-Wno-unknown-attributes",
            "-Wno-unused-command-line-argument",
        ])
        .arg("-I")
        .arg(repo_root().join("images/sdk-c"))
        .arg(kernels_source())
        .arg("-o")
        .arg(&raw);
    run_tool(&mut cmd, "clang (x86-64 contract)")?;
    let mut cmd = Command::new("objcopy");
    cmd.arg("--localize-hidden").arg(&raw).arg(&elf);
    run_tool(&mut cmd, "objcopy")?;
    Ok(elf)
}

// ---- timing ------------------------------------------------------------

/// Runs `call` `WARMUP` times untimed, then `n` times timed; returns the
/// sorted per-call times in ns. `call` returns the output, which must equal
/// `expected`.
fn time_calls(
    n: usize,
    expected: &[u8],
    what: &str,
    mut call: impl FnMut() -> Res<Vec<u8>>,
) -> Res<Vec<u64>> {
    for _ in 0..WARMUP {
        let out = call()?;
        if out != expected {
            return Err(format!(
                "{what}: wrong output {} (expected {})",
                hex(&out),
                hex(expected)
            ));
        }
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let out = call()?;
        times.push(start.elapsed().as_nanos() as u64);
        if out != expected {
            return Err(format!("{what}: wrong output {}", hex(&out)));
        }
    }
    times.sort_unstable();
    Ok(times)
}

fn median(sorted: &[u64]) -> u64 {
    sorted[sorted.len() / 2]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} us", ns as f64 / 1e3)
    }
}

// ---- Wasmtime ----------------------------------------------------------

struct Wasm {
    pre: InstancePre<()>,
    engine: WtEngine,
    fuel: bool,
    /// Addresses of the static buffers (the same in every instance).
    input_ptr: u32,
    output_ptr: u32,
}

fn wt<T>(r: wasmtime::Result<T>, what: &str) -> Res<T> {
    r.map_err(|e| format!("wasmtime: {what}: {e:?}"))
}

impl Wasm {
    fn new(wasm: &[u8], fuel: bool) -> Res<Wasm> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(16)
            .total_memories(16)
            .total_tables(16)
            .max_memory_size(16 << 20);
        let mut config = Config::new();
        config
            .consume_fuel(fuel)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = wt(WtEngine::new(&config), "Engine::new")?;
        let module = wt(WtModule::new(&engine, wasm), "Module::new")?;
        let linker = Linker::new(&engine);
        let pre = wt(linker.instantiate_pre(&module), "instantiate_pre")?;
        let mut w = Wasm {
            pre,
            engine,
            fuel,
            input_ptr: 0,
            output_ptr: 0,
        };
        let (mut store, instance) = w.instantiate()?;
        let get = |store: &mut WtStore<()>, name: &str| -> Res<u32> {
            let f = wt(instance.get_typed_func::<(), u32>(&mut *store, name), name)?;
            wt(f.call(&mut *store, ()), name)
        };
        w.input_ptr = get(&mut store, "input_buffer")?;
        w.output_ptr = get(&mut store, "output_buffer")?;
        Ok(w)
    }

    /// A new store (with fuel) and a new instance from the pool.
    fn instantiate(&self) -> Res<(WtStore<()>, wasmtime::Instance)> {
        let mut store = WtStore::new(&self.engine, ());
        if self.fuel {
            wt(store.set_fuel(FUEL), "set_fuel")?;
        }
        let instance = wt(self.pre.instantiate(&mut store), "instantiate")?;
        Ok((store, instance))
    }

    /// One call on a fresh instance; returns the output (and the fuel used).
    fn call(&self, kernel: &Kernel) -> Res<(Vec<u8>, u64)> {
        let (mut store, instance) = self.instantiate()?;
        let out = match &kernel.input {
            Input::U64(n) => {
                let f = wt(
                    instance.get_typed_func::<u64, u64>(&mut store, kernel.name),
                    kernel.name,
                )?;
                wt(f.call(&mut store, *n), kernel.name)?
                    .to_le_bytes()
                    .to_vec()
            }
            Input::Bytes(data) => {
                let memory = instance
                    .get_memory(&mut store, "memory")
                    .ok_or("no exported memory")?;
                memory
                    .write(&mut store, self.input_ptr as usize, data)
                    .map_err(|e| format!("wasmtime: memory.write: {e}"))?;
                let f = wt(
                    instance.get_typed_func::<(u32, u32, u32), ()>(&mut store, kernel.name),
                    kernel.name,
                )?;
                wt(
                    f.call(
                        &mut store,
                        (self.input_ptr, data.len() as u32, self.output_ptr),
                    ),
                    kernel.name,
                )?;
                let mut out = vec![0u8; 32];
                memory
                    .read(&store, self.output_ptr as usize, &mut out)
                    .map_err(|e| format!("wasmtime: memory.read: {e}"))?;
                out
            }
        };
        let used = if self.fuel {
            FUEL - wt(store.get_fuel(), "get_fuel")?
        } else {
            0
        };
        Ok((out, used))
    }
}

// ---- nativm ------------------------------------------------------------

struct Native {
    engine: NvEngine,
    module: NvModule,
    store: StateDb,
}

impl Native {
    fn new(path: &Path) -> Res<Native> {
        let engine = NvEngine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
        let module =
            NvModule::from_file(&engine, path).map_err(|e| format!("{}: {e}", path.display()))?;
        engine.prewarm(&module).map_err(|e| e.to_string())?;
        Ok(Native {
            engine,
            module,
            store: StateDb::in_memory(),
        })
    }

    fn call(&self, method: &str, options: &CallOptions) -> Res<Vec<u8>> {
        let receipt = self
            .engine
            .call(&self.module, &self.store, method, options)
            .map_err(|e| e.to_string())?;
        if receipt.outcome.status != Status::Ok {
            return Err(format!("nativm {method}: {}", receipt.to_text()));
        }
        Ok(receipt.outcome.return_data)
    }
}

// ---- main --------------------------------------------------------------

struct Row {
    label: String,
    wasm_fuel: u64,
    wasm_nofuel: u64,
    native_clang: u64,
    native_gcc: u64,
    fuel_used: u64,
    calls: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    if let Err(e) = run() {
        eprintln!("vs_wasmtime: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let dir = out_dir()?;
    let wasm_path = build_wasm(&dir)?;
    let clang_elf = build_nativm_clang(&dir)?;
    let gcc_elf = nativm_images::contract_path("bench_kernels");
    let wasm_bytes =
        std::fs::read(&wasm_path).map_err(|e| format!("{}: {e}", wasm_path.display()))?;
    eprintln!(
        "built {} ({} bytes) and {}",
        wasm_path.display(),
        wasm_bytes.len(),
        clang_elf.display()
    );

    let wasm_fuel = Wasm::new(&wasm_bytes, true)?;
    let wasm_nofuel = Wasm::new(&wasm_bytes, false)?;
    let native_clang = Native::new(&clang_elf)?;
    let native_gcc = Native::new(&gcc_elf)?;

    // Context: the bare exit round trip every nativm call pays at least
    // once, and Wasmtime's per-call instantiation alone.
    let kvm = nativm_vmm::open_kvm().map_err(|e| e.to_string())?;
    let exit_ns = nativm_vmm::measure_exit_roundtrip(&kvm, 2000).map_err(|e| e.to_string())?;
    let inst = time_calls(2000, &[], "wasmtime instantiate", || {
        wasm_fuel.instantiate().map(|_| Vec::new())
    })?;

    let mut rows = Vec::new();
    for k in kernels() {
        eprintln!("timing {} ({} calls per column) ...", k.label, k.calls);
        let what = |side: &str| format!("{side} {}", k.label);
        let mut fuel_used = 0;
        let wf = time_calls(k.calls, &k.expected, &what("wasmtime"), || {
            let (out, used) = wasm_fuel.call(&k)?;
            fuel_used = used;
            Ok(out)
        })?;
        let wn = time_calls(k.calls, &k.expected, &what("wasmtime (no fuel)"), || {
            wasm_nofuel.call(&k).map(|(out, _)| out)
        })?;
        let options = CallOptions::with_input(k.input.nativm_bytes());
        let nc = time_calls(k.calls, &k.expected, &what("nativm (clang)"), || {
            native_clang.call(k.name, &options)
        })?;
        let ng = time_calls(k.calls, &k.expected, &what("nativm (gcc)"), || {
            native_gcc.call(k.name, &options)
        })?;
        rows.push(Row {
            label: k.label.clone(),
            wasm_fuel: median(&wf),
            wasm_nofuel: median(&wn),
            native_clang: median(&nc),
            native_gcc: median(&ng),
            fuel_used,
            calls: k.calls,
        });
    }

    println!();
    println!(
        "nativm vs Wasmtime {} (fuel on, pooling allocator, instance per call); \
         medians per call, one run",
        wasmtime_version()
    );
    println!();
    println!(
        "| kernel | calls | wasmtime (fuel) | nativm (clang) | nativm / wasmtime | compute only | wasmtime (no fuel) | nativm (gcc) | fuel used |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // "compute only": the ratio after subtracting each side's trivial call
    // (its fixed per-call cost), i.e. of the kernels' own run times.
    let (wasm_base, native_base) = (rows[0].wasm_fuel, rows[0].native_clang);
    for (i, r) in rows.iter().enumerate() {
        let compute = if i == 0 {
            "-".to_string()
        } else {
            let n = r.native_clang.saturating_sub(native_base) as f64;
            let w = r.wasm_fuel.saturating_sub(wasm_base) as f64;
            format!("{:.2}x", n / w)
        };
        println!(
            "| {} | {} | {} | {} | {:.2}x | {} | {} | {} | {} |",
            r.label,
            r.calls,
            fmt_ns(r.wasm_fuel),
            fmt_ns(r.native_clang),
            r.native_clang as f64 / r.wasm_fuel as f64,
            compute,
            fmt_ns(r.wasm_nofuel),
            fmt_ns(r.native_gcc),
            r.fuel_used
        );
    }
    println!();
    println!(
        "wasmtime instantiation alone (new Store + fuel + instantiate from the pool): median {}",
        fmt_ns(median(&inst))
    );
    println!(
        "nativm bare VM exit round trip (null guest, ring 3): {} (every nativm call pays at least one)",
        fmt_ns(exit_ns)
    );
    Ok(())
}

/// The Wasmtime version this bench was built against, from the workspace's
/// `Cargo.lock` ("?" if it cannot be read).
fn wasmtime_version() -> String {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasmtime\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return v.trim_matches('"').to_string();
            }
        }
    }
    "?".to_string()
}
