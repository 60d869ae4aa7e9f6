//! Finding 3 of the whole-path fuzzer, measured: a contract that runs out
//! of gas and then touches the doorbell ends `forged_exit` or `out_of_gas`
//! depending on whether the 5 ms gas backstop ticked in between.
//!
//! `cargo run --release --example forged_after_gas -- [RUNS [COUNT...]]`:
//! for loop counts (default from 10^4 to 10^8) (`dec ecx; jnz` after the gas limit of 10 000
//! is exhausted), runs the call RUNS times each and prints the statuses
//! seen, for a doorbell store and, as the reference, for `ud2`.
use iced_x86::code_asm::*;
use nativm::{CallOptions, Engine, EngineConfig, Module, StateDb};
use nativm_fuzz::elf::{self, Symbol, TEXT};
use std::collections::BTreeMap;

fn program(count: u32, doorbell: bool) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut run = a.create_label();
    let mut top = a.create_label();
    a.set_label(&mut run).unwrap();
    a.mov(ecx, count).unwrap();
    a.set_label(&mut top).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    if doorbell {
        a.mov(dword_ptr(nativm_abi::DOORBELL_VA), eax).unwrap();
    } else {
        a.ud2().unwrap();
    }
    a.ret().unwrap();
    let text = a.assemble(TEXT).unwrap();
    elf::write(&elf::Spec {
        text,
        symbols: vec![Symbol {
            name: "run".into(),
            addr: TEXT,
            size: 0,
            global: true,
        }],
        ..Default::default()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut counts: Vec<u32> = args[2.min(args.len())..]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    if counts.is_empty() {
        counts = vec![
            10_000,
            1_000_000,
            3_000_000,
            10_000_000,
            30_000_000,
            100_000_000,
        ];
    }
    let engine = Engine::new(EngineConfig::default()).unwrap();
    for doorbell in [true, false] {
        for &count in &counts {
            let elf_bytes = program(count, doorbell);
            if let Some(dir) = std::env::var_os("FORGED_WRITE_DIR") {
                let name = format!(
                    "gas-out-then-{}-loop{count}.elf",
                    if doorbell { "doorbell" } else { "ud2" }
                );
                std::fs::write(std::path::Path::new(&dir).join(name), &elf_bytes).unwrap();
            }
            let module = Module::new(&engine, &elf_bytes).unwrap();
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut ms = 0.0;
            for _ in 0..runs {
                let store = StateDb::in_memory();
                let options = CallOptions {
                    gas_limit: Some(10_000),
                    ..Default::default()
                };
                let r = engine.call(&module, &store, "run", &options).unwrap();
                ms += r.diagnostics.run_ns as f64 / 1e6 / runs as f64;
                let name = match &r.outcome.trap {
                    Some(t) => format!("trap {}", t.exception.unwrap_or(t.kind)),
                    None => r.outcome.status.as_str().to_string(),
                };
                *seen
                    .entry(format!("{name} (gas_used {})", r.outcome.gas_used))
                    .or_default() += 1;
            }
            println!(
                "{:>8} then {:<9} loop {count:>9}: {ms:7.2} ms  {seen:?}",
                "gas out",
                if doorbell { "doorbell" } else { "ud2" }
            );
        }
    }
}
