//! Runs the example contracts natively in this test process (no VM): the
//! ELF's segments are mapped at their addresses, the runtime page at
//! `HOSTCALL_ENTRY` holds a trampoline to a Rust host-call handler, and
//! methods are called directly. This checks the contracts' logic and their
//! use of the host-call convention before the VMM exists. Abort paths are
//! not exercised (the SDK traps with `ud2` if ABORT returns).

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};
use goblin::elf::Elf;
use nativm_abi::{hostcall, CallInfo, CALL_INFO, HEAP_BASE, HOSTCALL_ENTRY, PAGE_SIZE};
use nativm_images::real::{self, Expect};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Host {
    storage: HashMap<Vec<u8>, Vec<u8>>,
    ret: Vec<u8>,
    logs: Vec<Vec<u8>>,
    caller: [u8; 32],
    aborted: Option<Vec<u8>>,
}

static HOST: Mutex<Option<Host>> = Mutex::new(None);

/// Serializes the tests of this file: they share the fixed addresses of
/// the runtime page, the heap and the contracts' segments.
static SERIAL: Mutex<()> = Mutex::new(());

/// Maps the runtime page and the heap once per process.
static RUNTIME: std::sync::Once = std::sync::Once::new();

/// Bytes of heap mapped at `HEAP_BASE` for contracts that allocate
/// (`txdecode`, through the SDK's bump allocator).
const NATIVE_HEAP: u64 = 64 << 20;

/// The `l` bytes at address `p`.
///
/// # Safety
///
/// `p..p + l` must be mapped, readable and not written for `'a`.
unsafe fn slice<'a>(p: u64, l: u64) -> &'a [u8] {
    if l == 0 {
        &[]
    } else {
        // SAFETY: the caller's guarantee; `l > 0`, so `p` is a real address
        // (from_raw_parts needs a non-null pointer even for no bytes).
        unsafe { std::slice::from_raw_parts(p as *const u8, l as usize) }
    }
}

extern "C" fn host_call(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    let mut g = HOST.lock().unwrap_or_else(|e| e.into_inner());
    let h = g.as_mut().expect("host state");
    // SAFETY: only the example contracts call this, through the trampoline,
    // with pointers into their own mapped memory (stack or data) of the
    // lengths they pass: 32 writable bytes at `a0` for CALLER, `a3`
    // writable bytes at `a2` for STORAGE_READ, readable `(a0, a1)` and
    // `(a2, a3)` otherwise; none of it aliases the host state.
    unsafe {
        match nr {
            hostcall::CALLER => {
                std::ptr::copy_nonoverlapping(h.caller.as_ptr(), a0 as *mut u8, 32);
                0
            }
            hostcall::SET_RETURN => {
                h.ret = slice(a0, a1).to_vec();
                0
            }
            hostcall::STORAGE_READ => match h.storage.get(slice(a0, a1)) {
                None => hostcall::NOT_FOUND,
                Some(v) => {
                    let n = v.len().min(a3 as usize);
                    std::ptr::copy_nonoverlapping(v.as_ptr(), a2 as *mut u8, n);
                    v.len() as u64
                }
            },
            hostcall::STORAGE_WRITE => {
                h.storage
                    .insert(slice(a0, a1).to_vec(), slice(a2, a3).to_vec());
                0
            }
            hostcall::STORAGE_REMOVE => h.storage.remove(slice(a0, a1)).is_some() as u64,
            hostcall::LOG => {
                h.logs.push(slice(a0, a1).to_vec());
                0
            }
            _ => {
                // ABORT (or unknown): record it; the contract then traps.
                h.aborted = Some(slice(a0, a1).to_vec());
                eprintln!(
                    "contract aborted: {:?}",
                    String::from_utf8_lossy(slice(a0, a1))
                );
                std::process::abort();
            }
        }
    }
}

/// Maps `len` fresh read-write bytes at `addr` (page-aligned).
///
/// # Safety
///
/// The caller owns the new mapping: nothing else may use those addresses.
unsafe fn map_fixed(addr: u64, len: u64) {
    // SAFETY: MAP_FIXED_NOREPLACE fails rather than replace an existing
    // mapping, so no memory of this process is clobbered; checked below.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, addr, "mmap at {addr:#x} failed");
}

/// Sets the protection of `addr..addr + len` to `prot`.
///
/// # Safety
///
/// The range must be a mapping made by [`map_fixed`] that no reference
/// still needs beyond `prot`.
unsafe fn protect(addr: u64, len: u64, prot: i32) {
    assert_eq!(
        // SAFETY: the caller's guarantee.
        unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, prot) },
        0
    );
}

/// Maps the runtime page, the CallInfo page and the heap, once per
/// process (later calls do nothing).
fn ensure_runtime() {
    RUNTIME.call_once(|| {
        // SAFETY: `call_once` runs this once per process, before any
        // contract runs (every test calls this first).
        unsafe {
            map_runtime();
            map_fixed(HEAP_BASE, NATIVE_HEAP);
        }
    });
}

/// Maps the runtime page (trampoline) and the CallInfo page.
///
/// # Safety
///
/// Once per process, before any contract runs.
unsafe fn map_runtime() {
    // SAFETY: `map_fixed` makes both pages fresh and writable (it asserts
    // they were free), so the 12-byte trampoline fits in the first; that
    // page is then made read-execute, the CallInfo page stays writable.
    unsafe {
        map_fixed(HOSTCALL_ENTRY, 2 * PAGE_SIZE);
        let code = HOSTCALL_ENTRY as *mut u8;
        // movabs rax, host_call; jmp rax
        let mut tramp = vec![0x48, 0xb8];
        tramp.extend_from_slice(
            &(host_call as extern "C" fn(u64, u64, u64, u64, u64) -> u64 as usize as u64)
                .to_le_bytes(),
        );
        tramp.extend_from_slice(&[0xff, 0xe0]);
        std::ptr::copy_nonoverlapping(tramp.as_ptr(), code, tramp.len());
        protect(HOSTCALL_ENTRY, PAGE_SIZE, libc::PROT_READ | libc::PROT_EXEC);
        assert_eq!(CALL_INFO, HOSTCALL_ENTRY + PAGE_SIZE);
    }
}

struct Loaded {
    maps: Vec<(u64, u64)>,
    methods: HashMap<String, u64>,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        for &(a, l) in &self.maps {
            // SAFETY: `load` mapped each range once, and no reference into
            // the contract's memory outlives it (`call` copies results out).
            unsafe { libc::munmap(a as *mut libc::c_void, l as usize) };
        }
    }
}

/// Maps the `PT_LOAD` segments of example contract `name` at their
/// addresses.
///
/// # Safety
///
/// Those addresses must be free: the previous contract has been dropped.
unsafe fn load(name: &str) -> Loaded {
    let bytes = std::fs::read(nativm_images::contract_path(name)).expect("read contract");
    let elf = Elf::parse(&bytes).expect("parse");
    let mut maps = Vec::new();
    for ph in elf.program_headers.iter().filter(|p| p.p_type == PT_LOAD) {
        let start = ph.p_vaddr & !(PAGE_SIZE - 1);
        let end = (ph.p_vaddr + ph.p_memsz).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        assert!(ph.p_filesz <= ph.p_memsz, "{name}: segment file size");
        // SAFETY: `map_fixed` maps `start..end` fresh and writable; the
        // copy's destination `p_vaddr..p_vaddr + p_filesz` lies within it
        // (asserted above), and its source is a bounds-checked slice.
        unsafe {
            map_fixed(start, end - start);
            std::ptr::copy_nonoverlapping(
                bytes[ph.p_offset as usize..][..ph.p_filesz as usize].as_ptr(),
                ph.p_vaddr as *mut u8,
                ph.p_filesz as usize,
            );
            let mut prot = libc::PROT_READ;
            if ph.p_flags & PF_W != 0 {
                prot |= libc::PROT_WRITE;
            }
            if ph.p_flags & PF_X != 0 {
                prot |= libc::PROT_EXEC;
            }
            protect(start, end - start, prot);
        }
        maps.push((start, end - start));
    }
    let methods = elf
        .syms
        .iter()
        .filter(|s| s.is_function() && s.st_bind() == goblin::elf::sym::STB_GLOBAL)
        .map(|s| {
            (
                elf.strtab.get_at(s.st_name).unwrap().to_string(),
                s.st_value,
            )
        })
        .collect();
    Loaded { maps, methods }
}

/// Calls `method` of the loaded contract `c` with `input` and returns its
/// return data.
///
/// # Safety
///
/// [`map_runtime`] has run, and `method` is a method of `c` (an
/// `extern "C" fn(input_ptr, input_len)`, as the SDK declares them).
unsafe fn call(c: &Loaded, method: &str, input: &[u8]) -> Vec<u8> {
    let addr = c.methods[method];
    {
        let mut g = HOST.lock().unwrap();
        let h = g.as_mut().unwrap();
        h.ret.clear();
        let info = CallInfo {
            abi_version: nativm_abi::ABI_VERSION as u64,
            entry: addr,
            input_ptr: input.as_ptr() as u64,
            input_len: input.len() as u64,
            heap_base: HEAP_BASE,
            heap_size: NATIVE_HEAP,
            caller: h.caller,
            ..Default::default()
        };
        // SAFETY: `map_runtime` left the page-aligned CallInfo page
        // writable, and a `CallInfo` fits in it.
        unsafe { std::ptr::write(CALL_INFO as *mut CallInfo, info) };
    }
    // SAFETY: `addr` is the entry of a global function of `c`, mapped
    // executable by `load`, with the signature the caller guarantees.
    let f: extern "C" fn(*const u8, u64) = unsafe { std::mem::transmute(addr as usize) };
    f(input.as_ptr(), input.len() as u64);
    let g = HOST.lock().unwrap();
    g.as_ref().unwrap().ret.clone()
}

fn with_host<R>(f: impl FnOnce(&mut Host) -> R) -> R {
    f(HOST.lock().unwrap().as_mut().unwrap())
}

#[test]
fn run_examples_natively() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    *HOST.lock().unwrap() = Some(Host::default());
    ensure_runtime();
    // SAFETY: the runtime is mapped (above); each contract is loaded
    // after the previous one was dropped (unmapped), the tests of this
    // file run one at a time (SERIAL), and only methods are called.
    unsafe {
        let fib = load("fib");
        let f =
            |n: u64| u64::from_le_bytes(call(&fib, "fib", &n.to_le_bytes()).try_into().unwrap());
        assert_eq!(
            [f(0), f(1), f(2), f(10), f(90)],
            [0, 1, 1, 55, 2880067194370816120]
        );
        drop(fib);

        let sha = load("sha256");
        use sha2::Digest;
        for input in [&b""[..], b"abc", &[7u8; 1000][..]] {
            let want: [u8; 32] = sha2::Sha256::digest(input).into();
            assert_eq!(call(&sha, "digest", input), want);
        }
        drop(sha);

        let token = load("token");
        let (alice, bob) = ([1u8; 32], [2u8; 32]);
        let arg = |who: [u8; 32], amt: u64| [&who[..], &amt.to_le_bytes()].concat();
        let bal = |who: [u8; 32]| {
            u64::from_le_bytes(call(&token, "balance_of", &who).try_into().unwrap())
        };
        assert_eq!(bal(alice), 0);
        assert!(call(&token, "mint", &arg(alice, 100)).is_empty());
        assert_eq!(bal(alice), 100);
        with_host(|h| h.caller = alice);
        call(&token, "transfer", &arg(bob, 30));
        call(&token, "transfer", &arg(alice, 70)); // to self
        assert_eq!((bal(alice), bal(bob)), (70, 30));
        with_host(|h| {
            let k = [&b"bal:"[..], &alice].concat();
            assert_eq!(h.storage[&k], 70u64.to_le_bytes());
            assert_eq!(h.logs.len(), 3);
            assert_eq!(
                h.logs[0],
                [&b"mint"[..], &alice, &100u64.to_le_bytes()].concat()
            );
            assert_eq!(
                h.logs[1],
                [&b"transfer"[..], &alice, &bob, &30u64.to_le_bytes()].concat()
            );
        });
        drop(token);

        let counter = load("counter");
        let inc = |d: u64| {
            u64::from_le_bytes(
                call(&counter, "increment", &d.to_le_bytes())
                    .try_into()
                    .unwrap(),
            )
        };
        assert_eq!(call(&counter, "get", b""), 0u64.to_le_bytes());
        assert_eq!(inc(5), 5);
        assert_eq!(inc(7), 12);
        assert_eq!(call(&counter, "get", b"ignored"), 12u64.to_le_bytes());
        drop(counter);

        let echo = load("echo");
        assert_eq!(call(&echo, "echo", b"hello"), b"hello");
        assert_eq!(call(&echo, "echo", b""), b"");
        assert_eq!(call(&echo, "whoami", b""), alice);
        drop(echo);
    }
}

/// Every real contract (`nativm_images::real`), run natively: each call
/// that must succeed returns the expected bytes and logs the expected
/// events (calls that must revert are skipped: natively, an abort ends the
/// process; they change no state, and the KVM examples test checks them).
#[test]
fn real_contracts_natively() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ensure_runtime();
    let mut checked = 0;
    for scenario in real::SCENARIOS {
        for &name in scenario.contracts {
            *HOST.lock().unwrap() = Some(Host::default());
            // SAFETY: the runtime is mapped; the previous contract was
            // dropped at the end of the last iteration; tests run one at a
            // time (SERIAL); only methods of `c` are called.
            let c = unsafe { load(name) };
            for (i, step) in scenario.steps.iter().enumerate() {
                let Expect::Ok { ret, logs } = step.expect else {
                    continue;
                };
                let input = step.input.bytes();
                with_host(|h| {
                    h.caller = step.caller();
                    h.logs.clear();
                });
                // SAFETY: as above; `step.method` is one of its methods
                // (the call panics on a missing one).
                let got = unsafe { call(&c, step.method, &input) };
                assert_eq!(
                    got,
                    real::hex(ret),
                    "{name} step {i} ({}): return data",
                    step.method
                );
                let want_logs: Vec<Vec<u8>> = logs.iter().map(|l| real::hex(l)).collect();
                with_host(|h| {
                    assert_eq!(h.logs, want_logs, "{name} step {i} ({}): logs", step.method)
                });
                checked += 1;
            }
            drop(c);
        }
    }
    assert!(checked > 100, "only {checked} native calls checked");
}
