//! Metered against native on real contracts and C kernels (issue 13).
//!
//! Run (needs `/dev/kvm`, gcc and clang):
//!
//! ```sh
//! cargo bench -p nativm-benches --bench real_contracts
//! ```
//!
//! Plain timing, no criterion, one run, plain-text tables on stdout.
//!
//! 1. **C kernels** (`benches/kernels/kernels.c`): SHA-256 over 4 MiB,
//!    Keccak-f[1600] 200 000 times, a sieve over 8 MiB, a 200x200 u32
//!    matrix product and recursive fib(30), each built by `gcc -O2` and by
//!    `clang -O2` twice: as a contract (the C contract flags,
//!    `nativm_images::C_CONTRACT_FLAGS`) and as a native shared object
//!    (`-O2 -fPIC -shared`, loaded with `dlopen`). Columns: the native
//!    build; the contract ELF's own code run natively in this process
//!    ([`host::Mapped`]: segments at their addresses, a trampoline to a
//!    host-call handler in Rust), which splits the ratio into codegen
//!    (the contract flags) and metering plus the guest; and nativm
//!    metered (`Diagnostics::run_ns + reset_ns`: the run inside the warm
//!    guest, its VM exits, and the reset of the pages it wrote).
//! 2. **Real contracts** (`nativm_images::real`): the contract ELF run
//!    natively as above (the same machine code; its host calls served by
//!    a Rust `HashMap`) against metered. Stateful calls (ERC-20 transfer,
//!    AMM swap) pay one VM exit per storage host call when metered, a
//!    function call natively.
//!
//! Every metered call must end `ok` with the native return data, and the
//! same `gas_used` on every run. Ratios are medians of [`RUNS`] runs per
//! side after [`WARMUP`] untimed ones. The goal (issue 13): within 1.10x
//! of native per kernel, geometric mean 1.05x.
//!
//! Under `cargo test --benches` (no `--bench` argument) it runs once with
//! small inputs and 2 runs, as a smoke test of every check.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nativm::{CallOptions, Engine, EngineConfig, Module, StateDb, Status};
use nativm_images::real::{self, Expect, Input};

/// Timed runs per side (medians of these).
const RUNS: usize = 9;
/// Untimed runs before each series.
const WARMUP: usize = 2;
/// Gas limit of the timed calls: far above what they use.
const BENCH_GAS: u64 = 1 << 50;

type Res<T> = Result<T, String>;

/// One workload: a method and its input.
struct Work {
    label: String,
    method: &'static str,
    input: Vec<u8>,
    caller: [u8; 32],
}

/// The C kernels at full size, or tiny ones for the smoke test.
fn kernel_work(full: bool) -> Vec<Work> {
    let le = |v: u64| v.to_le_bytes().to_vec();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let sha_len = if full { 4 << 20 } else { 4096 };
    let data: Vec<u8> = (0..sha_len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let w = |label: &str, method: &'static str, input: Vec<u8>| Work {
        label: label.to_string(),
        method,
        input,
        caller: [0; 32],
    };
    vec![
        w("sha256 4 MiB", "sha256", data),
        w(
            "keccak-f x200000",
            "keccak",
            le(if full { 200_000 } else { 100 }),
        ),
        w(
            "sieve 8 MiB",
            "sieve",
            le(if full { 8 << 20 } else { 1000 }),
        ),
        w("matmul 200", "matmul", le(if full { 200 } else { 8 })),
        w("fib(30)", "fib", le(if full { 30 } else { 10 })),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let full = std::env::args().any(|a| a == "--bench");
    if let Err(e) = run(full) {
        eprintln!("real_contracts: {e}");
        std::process::exit(1);
    }
}

fn run(full: bool) -> Res<()> {
    let runs = if full { RUNS } else { 2 };
    let engine = Engine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
    println!(
        "metered nativm vs native; {runs} runs per side, medians (ms); metered = run_ns + reset_ns"
    );
    let mut all = Vec::new();
    for cc in ["gcc", "clang"] {
        let (elf, so) = build_kernels(cc)?;
        let module = Module::from_file(&engine, &elf).map_err(|e| format!("{cc} kernels: {e}"))?;
        engine.prewarm(&module).map_err(|e| e.to_string())?;
        let lib = native::Lib::open(&so)?;
        let bytes = std::fs::read(&elf).map_err(|e| e.to_string())?;
        println!("\nC kernels, {cc} -O2 | native .so | contract ELF natively | metered | metered/native | gas");
        let mut ratios = Vec::new();
        for work in kernel_work(full) {
            let store = StateDb::in_memory();
            let (nat_out, nat) = median_of(runs, || lib.call(work.method, &work.input))?;
            let mapped = host::Mapped::new(&bytes, &module)?;
            let (elf_out, elf_ns) = median_of(runs, || mapped.call(work.method, &work.input))?;
            drop(mapped);
            let (met_out, met, gas) = metered(&engine, &store, &module, &work, runs)?;
            if nat_out != met_out || elf_out != met_out {
                return Err(format!("{cc} {}: outputs differ", work.label));
            }
            let d = call(&engine, &store, &module, &work)?.diagnostics;
            let r = met as f64 / nat as f64;
            ratios.push(r);
            println!(
                "  {:<18} {:>9} {:>9} {:>9}  {r:>6.3}x  {gas}  reset {} ms, {} pages",
                work.label,
                ms(nat),
                ms(elf_ns),
                ms(met),
                ms(d.reset_ns),
                d.pages_reset
            );
        }
        println!(
            "  geometric mean metered/native ({cc}): {:.3}x",
            geomean(&ratios)
        );
        all.extend(ratios);
    }
    println!(
        "  geometric mean over both compilers: {:.3}x (goal 1.05x, each <= 1.10x)",
        geomean(&all)
    );
    dirty_log_modes(&engine, runs, full)?;
    real_contracts(&engine, runs, full)
}

/// The reset's two dirty-log modes (`nativm_vmm::memory`) on the kernels
/// that write memory, calls of the two alternating so that the machine's
/// load drifts alike for both: manual protection (changed pages stay
/// writable, compared every reset) against legacy (every page
/// write-protected again, one write-protection fault per page next call).
fn dirty_log_modes(manual: &Engine, runs: usize, full: bool) -> Res<()> {
    let (elf, _) = build_kernels("gcc")?;
    let legacy = Engine::new(EngineConfig::default()).map_err(|e| e.to_string())?;
    let l = Module::from_file(&legacy, &elf).map_err(|e| e.to_string())?;
    // The VMM reads the variable when it creates a guest: only this
    // prewarm's guest (this thread's, for `l`) is in the legacy mode. No
    // other thread reads the environment meanwhile.
    std::env::set_var(nativm_vmm::memory::LEGACY_DIRTY_LOG_ENV, "1");
    let warmed = legacy.prewarm(&l).map_err(|e| e.to_string());
    std::env::remove_var(nativm_vmm::memory::LEGACY_DIRTY_LOG_ENV);
    warmed?;
    let m = Module::from_file(manual, &elf).map_err(|e| e.to_string())?;
    manual.prewarm(&m).map_err(|e| e.to_string())?;
    println!("\ndirty-log modes, gcc kernels | legacy ms | manual ms | legacy/manual | pages | saved per page (us)");
    let store = StateDb::in_memory();
    let writers = kernel_work(full)
        .into_iter()
        .filter(|w| w.method == "sieve" || w.method == "matmul");
    for work in writers {
        let (mut tl, mut tm, mut pages) = (Vec::new(), Vec::new(), 0);
        for i in 0..WARMUP + 2 * runs {
            let r = call(&legacy, &store, &l, &work)?;
            if !r.diagnostics.warm {
                return Err("the legacy-mode guest was not reused".into());
            }
            let s = call(manual, &store, &m, &work)?;
            if r.outcome != s.outcome {
                return Err(format!("{}: the modes' outcomes differ", work.label));
            }
            pages = s.diagnostics.pages_reset;
            if i >= WARMUP {
                tl.push(r.diagnostics.run_ns + r.diagnostics.reset_ns);
                tm.push(s.diagnostics.run_ns + s.diagnostics.reset_ns);
            }
        }
        let (a, b) = (median(tl), median(tm));
        let per_page = (a as f64 - b as f64) / pages.max(1) as f64 / 1e3;
        println!(
            "  {:<18} {:>9} {:>9}  {:>6.3}x  {pages}  {per_page:.2}",
            work.label,
            ms(a),
            ms(b),
            a as f64 / b as f64
        );
    }
    Ok(())
}

/// The real contracts: the ELF natively against metered.
fn real_contracts(engine: &Engine, runs: usize, full: bool) -> Res<()> {
    println!("\nreal contracts | contract ELF natively | metered | metered/native | gas | exits");
    let mut ratios = Vec::new();
    for (name, work, setup) in real_work(full) {
        let path = nativm_images::contract_path(name);
        let module = Module::from_file(engine, &path).map_err(|e| format!("{name}: {e}"))?;
        engine.prewarm(&module).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let store = StateDb::in_memory();
        let mapped = host::Mapped::new(&bytes, &module)?;
        for s in &setup {
            mapped.call_as(s.method, &s.input, s.caller)?;
            let r = call(engine, &store, &module, s)?;
            if r.outcome.status != Status::Ok {
                return Err(format!("{name} set-up {}: {:?}", s.method, r.outcome));
            }
        }
        let (nat_out, nat) = median_of(runs, || {
            mapped.call_as(work.method, &work.input, work.caller)
        })?;
        drop(mapped);
        let (met_out, met, gas) = metered(engine, &store, &module, &work, runs)?;
        if nat_out != met_out {
            return Err(format!("{name} {}: outputs differ", work.label));
        }
        let exits = call(engine, &store, &module, &work)?.diagnostics.vm_exits;
        let r = met as f64 / nat as f64;
        ratios.push(r);
        println!(
            "  {:<28} {:>9} {:>9}  {r:>7.3}x  {gas} {exits}",
            format!("{name} {}", work.label),
            ms(nat),
            ms(met)
        );
    }
    println!("  geometric mean metered/native: {:.3}x", geomean(&ratios));
    Ok(())
}

/// The real-contract workloads: (contract, timed call, set-up calls).
fn real_work(full: bool) -> Vec<(&'static str, Work, Vec<Work>)> {
    let step = |contract: &str, method: &str, nth: usize| -> Work {
        let s = real::SCENARIOS
            .iter()
            .filter(|s| s.contracts.contains(&contract))
            .flat_map(|s| s.steps.iter())
            .filter(|s| s.method == method && matches!(s.expect, Expect::Ok { .. }))
            .nth(nth)
            .expect("a scenario step");
        Work {
            label: method.to_string(),
            method: s.method,
            input: s.input.bytes(),
            caller: s.caller(),
        }
    };
    let len = if full { 1 << 20 } else { 4096 };
    let hash = |method: &'static str| Work {
        label: format!("{method} {len} B"),
        method,
        input: Input::Pattern(len).bytes(),
        caller: [0; 32],
    };
    let mut out = vec![
        ("ed25519", step("ed25519", "verify", 1), vec![]),
        ("secp256k1", step("secp256k1", "verify", 0), vec![]),
        ("secp256k1", step("secp256k1", "recover", 0), vec![]),
        ("hashes", hash("sha256"), vec![]),
        ("hashes", hash("keccak256"), vec![]),
        ("hashes", hash("blake3"), vec![]),
        ("hashes", step("hashes", "merkle_verify", 4), vec![]),
        ("txdecode", step("txdecode", "decode", 0), vec![]),
    ];
    for c in ["erc20", "erc20_c"] {
        out.push((c, step(c, "transfer", 0), vec![step(c, "init", 0)]));
    }
    for c in ["amm", "amm_c"] {
        let mut swap = step(c, "swap", 0);
        swap.input[17..33].fill(0); // min_out 0: the call repeats
        out.push((c, swap, vec![step(c, "add_liquidity", 0)]));
    }
    out
}

fn call(engine: &Engine, store: &StateDb, module: &Module, w: &Work) -> Res<nativm::Receipt> {
    let options = CallOptions {
        input: w.input.clone(),
        caller: w.caller,
        gas_limit: Some(BENCH_GAS),
        timeout: Some(Duration::from_secs(120)),
        access_list: Vec::new(),
    };
    engine
        .call(module, store, w.method, &options)
        .map_err(|e| format!("{}: {e}", w.method))
}

/// Median metered time (run + reset, ns) of `w`, its output and gas;
/// checks every call ends `ok`, and every timed one (but a swap's) with
/// the same output and gas.
fn metered(
    engine: &Engine,
    store: &StateDb,
    module: &Module,
    w: &Work,
    runs: usize,
) -> Res<(Vec<u8>, u64, u64)> {
    let mut times = Vec::new();
    let mut seen: Option<(Vec<u8>, u64)> = None;
    for i in 0..WARMUP + runs {
        let r = call(engine, store, module, w)?;
        if r.outcome.status != Status::Ok {
            return Err(format!("{}: {:?}", w.label, r.outcome));
        }
        if i < WARMUP {
            continue; // the first transfer to an account creates its key
        }
        let got = (r.outcome.return_data.clone(), r.outcome.gas_used);
        match &seen {
            Some(prev) if *prev != got && !stateful(w) => {
                return Err(format!("{}: output or gas changed between runs", w.label))
            }
            _ => seen = Some(got),
        }
        times.push(r.diagnostics.run_ns + r.diagnostics.reset_ns);
    }
    let (out, gas) = seen.expect("runs > 0");
    Ok((out, median(times), gas))
}

/// Whether repeating `w` changes its return data and gas (a swap moves
/// the price; the 256-bit division's branches depend on the amounts).
/// Gas determinism for the same call on the same state is the examples
/// test's (`tests/tests/examples.rs`).
fn stateful(w: &Work) -> bool {
    w.method == "swap"
}

/// Median time of `f` (which returns output and ns) over `runs` after
/// [`WARMUP`], and its last output.
fn median_of(runs: usize, mut f: impl FnMut() -> Res<(Vec<u8>, u64)>) -> Res<(Vec<u8>, u64)> {
    let mut times = Vec::new();
    let mut last = Vec::new();
    for i in 0..WARMUP + runs {
        let (out, ns) = f()?;
        if i >= WARMUP {
            times.push(ns);
        }
        last = out;
    }
    Ok((last, median(times)))
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn geomean(v: &[f64]) -> f64 {
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// Builds `benches/kernels/kernels.c` with `cc` as a contract ELF and as
/// a native shared object, under `<target>/bench-contracts/`.
fn build_kernels(cc: &str) -> Res<(PathBuf, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernels/kernels.c");
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/sdk-c");
    let dir = nativm_images::contracts_dir().join("../bench-contracts");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (elf, so) = (
        dir.join(format!("kernels-{cc}.elf")),
        dir.join(format!("kernels-{cc}.so")),
    );
    let mut contract = Command::new(cc);
    contract
        .args(["-O2", "-std=c11", "-w"])
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg("-I")
        .arg(&sdk)
        .arg(&src)
        .arg("-o")
        .arg(&elf);
    run_tool(&mut contract)?;
    run_tool(Command::new("objcopy").arg("--localize-hidden").arg(&elf))?;
    let mut native = Command::new(cc);
    native
        .args([
            "-O2",
            "-std=c11",
            "-DKERNELS_NATIVE",
            "-fPIC",
            "-shared",
            "-fvisibility=hidden",
        ])
        .arg(&src)
        .arg("-o")
        .arg(&so);
    run_tool(&mut native)?;
    Ok((elf, so))
}

fn run_tool(cmd: &mut Command) -> Res<()> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The native build of the kernels, loaded with `dlopen`.
mod native {
    use super::{CString, Instant, Path, Res};

    /// A loaded `kernels-<cc>.so`.
    pub struct Lib {
        handle: *mut libc::c_void,
        out: *const u8,
        out_len: *const u64,
    }

    impl Lib {
        /// Loads the shared object at `path`.
        pub fn open(path: &Path) -> Res<Lib> {
            let c = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
            // SAFETY: `c` is a NUL-terminated path; the library is ours
            // (kernels.c) and has no constructors.
            let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if handle.is_null() {
                return Err(format!("dlopen {}", path.display()));
            }
            let mut lib = Lib {
                handle,
                out: std::ptr::null(),
                out_len: std::ptr::null(),
            };
            lib.out = lib.sym("kernels_out")?.cast();
            lib.out_len = lib.sym("kernels_out_len")?.cast();
            Ok(lib)
        }

        fn sym(&self, name: &str) -> Res<*const libc::c_void> {
            let c = CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: `handle` is a live dlopen handle, `c` a C string.
            let p = unsafe { libc::dlsym(self.handle, c.as_ptr()) };
            if p.is_null() {
                return Err(format!("dlsym {name}"));
            }
            Ok(p.cast_const())
        }

        /// Calls kernel `method` on `input`; its output and ns.
        pub fn call(&self, method: &str, input: &[u8]) -> Res<(Vec<u8>, u64)> {
            let p = self.sym(method)?;
            // SAFETY: every exported function of kernels.c with a method's
            // name has the signature `void (const uint8_t *, uint64_t)`.
            let f: extern "C" fn(*const u8, u64) = unsafe { std::mem::transmute(p) };
            let start = Instant::now();
            f(std::hint::black_box(input.as_ptr()), input.len() as u64);
            let ns = start.elapsed().as_nanos() as u64;
            // SAFETY: `out_len`/`out` point at the library's globals; the
            // kernel wrote at most 32 bytes (kernels_out's size).
            let out = unsafe {
                let n = (*self.out_len).min(32) as usize;
                std::slice::from_raw_parts(self.out, n).to_vec()
            };
            Ok((out, ns))
        }
    }

    impl Drop for Lib {
        fn drop(&mut self) {
            // SAFETY: no pointer into the library outlives `self`.
            unsafe { libc::dlclose(self.handle) };
        }
    }
}

/// Runs a contract ELF's own code natively in this process.
mod host {
    use super::{HashMap, Instant, Module, Res};
    use nativm_abi::{hostcall, CallInfo, CALL_INFO, HEAP_BASE, HOSTCALL_ENTRY};
    use std::sync::Mutex;

    const PAGE: usize = 4096;
    /// Heap bytes mapped (reserved; pages are touched lazily).
    const HEAP: usize = 256 << 20;

    #[derive(Default)]
    struct State {
        storage: HashMap<Vec<u8>, Vec<u8>>,
        ret: Vec<u8>,
        logs: usize,
        caller: [u8; 32],
    }

    static STATE: Mutex<Option<State>> = Mutex::new(None);

    /// `l` bytes at `p`.
    ///
    /// # Safety
    ///
    /// `p..p + l` is readable for the returned lifetime.
    unsafe fn bytes<'a>(p: u64, l: u64) -> &'a [u8] {
        if l == 0 {
            &[]
        } else {
            // SAFETY: the caller's guarantee.
            unsafe { std::slice::from_raw_parts(p as *const u8, l as usize) }
        }
    }

    extern "C" fn host_call(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
        let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let s = g.get_or_insert_with(State::default);
        // SAFETY: only the verified contracts of this bench call this,
        // with pointers into their own memory or input of the lengths
        // they pass (32 writable bytes for CALLER, `a3` writable at `a2`
        // for STORAGE_READ).
        unsafe {
            match nr {
                hostcall::CALLER => {
                    std::ptr::copy_nonoverlapping(s.caller.as_ptr(), a0 as *mut u8, 32);
                    0
                }
                hostcall::SET_RETURN => {
                    s.ret = bytes(a0, a1).to_vec();
                    0
                }
                hostcall::STORAGE_READ => match s.storage.get(bytes(a0, a1)) {
                    None => hostcall::NOT_FOUND,
                    Some(v) => {
                        let n = v.len().min(a3 as usize);
                        std::ptr::copy_nonoverlapping(v.as_ptr(), a2 as *mut u8, n);
                        v.len() as u64
                    }
                },
                hostcall::STORAGE_WRITE => {
                    s.storage
                        .insert(bytes(a0, a1).to_vec(), bytes(a2, a3).to_vec());
                    0
                }
                hostcall::STORAGE_REMOVE => u64::from(s.storage.remove(bytes(a0, a1)).is_some()),
                hostcall::LOG => {
                    s.logs += 1;
                    0
                }
                _ => {
                    eprintln!(
                        "contract code on the host: host call {nr}: {:?}",
                        String::from_utf8_lossy(bytes(a0, a1.min(4096)))
                    );
                    std::process::abort();
                }
            }
        }
    }

    fn map_fixed(addr: usize, len: usize) -> Res<()> {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE
                    | libc::MAP_ANONYMOUS
                    | libc::MAP_FIXED_NOREPLACE
                    | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p as usize != addr {
            return Err(format!("cannot map {len:#x} bytes at {addr:#x}"));
        }
        Ok(())
    }

    fn protect(addr: usize, len: usize, prot: i32) -> Res<()> {
        // SAFETY: the range was mapped by `map_fixed`.
        if unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } != 0 {
            return Err(format!("mprotect {addr:#x}"));
        }
        Ok(())
    }

    /// One contract mapped into this process; unmapped on drop.
    pub struct Mapped {
        maps: Vec<(usize, usize)>,
        methods: HashMap<String, u64>,
    }

    impl Mapped {
        /// Maps the runtime trampoline, a writable CallInfo page, a heap
        /// and `elf`'s `PT_LOAD` segments (a verified contract: segments
        /// in the contract window, none sharing a page); `module` names
        /// its methods. Host state starts empty.
        pub fn new(elf: &[u8], module: &Module) -> Res<Mapped> {
            *STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(State::default());
            let mut m = Mapped {
                maps: Vec::new(),
                methods: module.methods().map(|(n, a)| (n.to_string(), a)).collect(),
            };
            let runtime = HOSTCALL_ENTRY as usize;
            map_fixed(runtime, 2 * PAGE)?;
            m.maps.push((runtime, 2 * PAGE));
            map_fixed(HEAP_BASE as usize, HEAP)?;
            m.maps.push((HEAP_BASE as usize, HEAP));
            // movabs rax, host_call; jmp rax
            let mut tramp = vec![0x48, 0xb8];
            let target = host_call as extern "C" fn(u64, u64, u64, u64, u64) -> u64;
            tramp.extend_from_slice(&(target as usize as u64).to_le_bytes());
            tramp.extend_from_slice(&[0xff, 0xe0]);
            // SAFETY: the page was just mapped writable.
            unsafe {
                std::ptr::copy_nonoverlapping(tramp.as_ptr(), runtime as *mut u8, tramp.len())
            };
            protect(runtime, PAGE, libc::PROT_READ | libc::PROT_EXEC)?;
            let parsed = goblin::elf::Elf::parse(elf).map_err(|e| e.to_string())?;
            for ph in parsed.program_headers.iter().filter(|p| p.p_type == 1) {
                let (vaddr, filesz, memsz) = (
                    ph.p_vaddr as usize,
                    ph.p_filesz as usize,
                    ph.p_memsz as usize,
                );
                let start = vaddr & !(PAGE - 1);
                let len = (vaddr + memsz).next_multiple_of(PAGE) - start;
                map_fixed(start, len)?;
                m.maps.push((start, len));
                let src = &elf[ph.p_offset as usize..][..filesz.min(memsz)];
                // SAFETY: [vaddr, vaddr + filesz) lies in the new mapping.
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), vaddr as *mut u8, src.len()) };
                let mut prot = libc::PROT_READ;
                if ph.p_flags & 2 != 0 {
                    prot |= libc::PROT_WRITE;
                }
                if ph.p_flags & 1 != 0 {
                    prot |= libc::PROT_EXEC;
                }
                protect(start, len, prot)?;
            }
            Ok(m)
        }

        /// Calls `method` with `input` and the zero caller.
        pub fn call(&self, method: &str, input: &[u8]) -> Res<(Vec<u8>, u64)> {
            self.call_as(method, input, [0; 32])
        }

        /// Calls `method` with `input` as `caller`; its return data and ns.
        pub fn call_as(&self, method: &str, input: &[u8], caller: [u8; 32]) -> Res<(Vec<u8>, u64)> {
            let entry = *self
                .methods
                .get(method)
                .ok_or_else(|| format!("no method {method}"))?;
            {
                let mut g = STATE.lock().unwrap_or_else(|e| e.into_inner());
                let s = g.get_or_insert_with(State::default);
                s.ret.clear();
                s.caller = caller;
            }
            let info = CallInfo {
                abi_version: u64::from(nativm_abi::ABI_VERSION),
                entry,
                input_ptr: input.as_ptr() as u64,
                input_len: input.len() as u64,
                heap_base: HEAP_BASE,
                heap_size: HEAP as u64,
                caller,
                ..Default::default()
            };
            // SAFETY: the CallInfo page was mapped writable by `new`.
            unsafe { std::ptr::write(CALL_INFO as *mut CallInfo, info) };
            // SAFETY: `entry` is a verified method of the mapped contract,
            // a System V function taking (input pointer, length).
            let f: extern "C" fn(*const u8, u64) = unsafe { std::mem::transmute(entry as usize) };
            let start = Instant::now();
            f(std::hint::black_box(input.as_ptr()), input.len() as u64);
            let ns = start.elapsed().as_nanos() as u64;
            let ret = std::mem::take(
                &mut STATE
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(State::default)
                    .ret,
            );
            Ok((ret, ns))
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
