//! Finding 5, measured: a gas check that interrupts a call before the
//! runtime loop has loaded the call's gas limit reads the counters the
//! previous call left (or a new guest's zeros).
//!
//! Call A (input non-empty, gas 10 000) spins past its limit and returns:
//! `out_of_gas` at the method's return, which leaves the guest warm with
//! negative counters. Call B (input empty, gas 10^6) returns at once: `ok`.
//! With `FLOOD=1` a thread sends the engine's kick signal (`SIGRTMIN`, whose
//! handler does nothing: it only makes `KVM_RUN` return `EINTR`, as the
//! backstop's does) to the calling thread every few microseconds, as the
//! backstop does when it signals a call that has just ended.
//! `cargo run --release --example stale_gas -- [PAIRS]`.
use iced_x86::code_asm::*;
use nativm::{CallOptions, Engine, EngineConfig, Module, StateDb};
use nativm_fuzz::elf::{self, Symbol, TEXT};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn program() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut done = a.create_label();
    let mut top = a.create_label();
    a.test(rsi, rsi).unwrap();
    a.jz(done).unwrap();
    a.mov(ecx, 100_000u32).unwrap();
    a.set_label(&mut top).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.set_label(&mut done).unwrap();
    a.ret().unwrap();
    let text = a.assemble(TEXT).unwrap();
    elf::write(&elf::Spec {
        text,
        symbols: vec![Symbol { name: "run".into(), addr: TEXT, size: 0, global: true }],
        ..Default::default()
    })
}

fn main() {
    let pairs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let elf_bytes = program();
    if let Some(dir) = std::env::var_os("FORGED_WRITE_DIR") {
        std::fs::write(std::path::Path::new(&dir).join("oog-then-short-call.elf"), &elf_bytes).unwrap();
    }
    let module = Module::new(&engine, &elf_bytes).unwrap();
    let a = CallOptions { input: vec![1], gas_limit: Some(10_000), ..Default::default() };
    let b = CallOptions { input: vec![], gas_limit: Some(1_000_000), ..Default::default() };
    // One call first: installs the kick signal's handler.
    let _ = engine.call(&module, &StateDb::in_memory(), "run", &b).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let target = unsafe { libc::pthread_self() } as usize;
    let flood = std::env::var_os("FLOOD").is_some().then(|| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGRTMIN()) };
                std::thread::sleep(std::time::Duration::from_micros(5));
            }
        })
    });
    let mut seen_a: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_b: BTreeMap<String, usize> = BTreeMap::new();
    let name = |r: Result<nativm::Receipt, nativm::Error>| match r {
        Ok(r) => format!(
            "{} gas_used {} {}",
            r.outcome.status.as_str(),
            r.outcome.gas_used,
            if r.diagnostics.warm { "warm" } else { "new guest" }
        ),
        Err(e) => format!("Err: {e}"),
    };
    for _ in 0..pairs {
        let ra = engine.call(&module, &StateDb::in_memory(), "run", &a);
        *seen_a.entry(name(ra)).or_default() += 1;
        let rb = engine.call(&module, &StateDb::in_memory(), "run", &b);
        *seen_b.entry(name(rb)).or_default() += 1;
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = flood {
        t.join().unwrap();
    }
    println!("call A (spins past 10 000 gas): {seen_a:?}");
    println!("call B (returns at once, 10^6 gas): {seen_b:?}");
}
