//! Host calls whose data pointer lies in the doorbell page: how each is
//! reported (finding 4). `cargo run --release --example doorbell_args`.
use iced_x86::code_asm::*;
use nativm::{CallOptions, Engine, EngineConfig, Module, StateDb};
use nativm_fuzz::elf::{self, Symbol, TEXT};

fn program(nr: u64, len: u64) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rdi, nr).unwrap();
    a.mov(rsi, nativm_abi::DOORBELL_VA).unwrap();
    a.mov(rdx, len).unwrap();
    a.call(nativm_abi::HOSTCALL_ENTRY).unwrap();
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
    let engine = Engine::new(EngineConfig::default()).unwrap();
    use nativm_abi::hostcall as hc;
    for (name, nr, len) in [
        ("set_return", hc::SET_RETURN, 8),
        (
            "set_return (over the limit: exits)",
            hc::SET_RETURN,
            nativm_abi::limits::MAX_RETURN_LEN + 1,
        ),
        ("log", hc::LOG, 8),
        ("abort", hc::ABORT, 8),
        ("caller (output)", hc::CALLER, 0),
    ] {
        let bytes = program(nr, len);
        if let (Some(dir), true) = (std::env::var_os("FORGED_WRITE_DIR"), name == "set_return") {
            std::fs::write(
                std::path::Path::new(&dir).join("set-return-from-doorbell.elf"),
                &bytes,
            )
            .unwrap();
        }
        let module = Module::new(&engine, &bytes).unwrap();
        let r = engine
            .call(&module, &StateDb::in_memory(), "run", &CallOptions::default())
            .unwrap();
        println!(
            "{name}: status {} gas_used {} trap {:?}",
            r.outcome.status.as_str(),
            r.outcome.gas_used,
            r.outcome.trap.map(|t| (
                t.kind,
                t.exception,
                t.rip.map(|x| format!("{x:#x}")),
                t.message
            ))
        );
    }
}
