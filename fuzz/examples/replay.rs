//! Replays a `whole_path` fuzz input outside libFuzzer: prints the decoded
//! program, writes its ELF (`REPLAY_ELF=path`), and runs its kind-one call
//! RUNS times on a fresh engine and on a 2-worker executor, printing each
//! receipt's status, trap, gas used, gas checks and run time.
//! `cargo run --release --example replay -- FILE [RUNS]`.
use arbitrary::{Arbitrary, Unstructured};
use nativm::{CallOptions, Engine, EngineConfig, Executor, Module, StateDb};
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).unwrap();
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let program = nativm_fuzz::gen::Program::arbitrary_take_rest(Unstructured::new(&data)).unwrap();
    if std::env::var_os("REPLAY_QUIET").is_none() {
        println!("{program:#?}");
    }
    let built = nativm_fuzz::gen::assemble(&program).unwrap();
    if let Some(path) = std::env::var_os("REPLAY_ELF") {
        std::fs::write(path, &built.elf).unwrap();
    }
    let config = EngineConfig {
        heap_size: nativm_fuzz::gen::HEAP_SIZE,
        stack_size: nativm_fuzz::gen::STACK_SIZE,
        ..EngineConfig::default()
    };
    let engine = Engine::new(config.clone()).unwrap();
    let executor = Executor::new(config, 2).unwrap();
    let module = Arc::new(Module::new(&engine, &built.elf).unwrap());
    let options = CallOptions {
        input: built.input.clone(),
        caller: nativm_fuzz::harness::CALLER,
        timeout: Some(nativm_fuzz::harness::TIMEOUT),
        gas_limit: Some(built.gas),
    };
    let show = |what: &str, r: nativm::Receipt| {
        println!(
            "{what}: {} {:?} gas_used {} of {} gas_checks {} host_calls {} vm_exits {} warm {} run {:.2} ms",
            r.outcome.status.as_str(),
            r.outcome.trap.as_ref().map(|t| t.exception.unwrap_or(t.kind)),
            r.outcome.gas_used,
            r.outcome.gas_limit,
            r.diagnostics.gas_checks,
            r.diagnostics.host_calls,
            r.diagnostics.vm_exits,
            r.diagnostics.warm,
            r.diagnostics.run_ns as f64 / 1e6
        );
    };
    for i in 0..runs {
        let store = StateDb::in_memory();
        show(&format!("engine #{i}"), engine.call(&module, &store, "run", &options).unwrap());
    }
    for i in 0..runs {
        let store = Arc::new(StateDb::in_memory());
        show(&format!("executor #{i}"), executor.call(&module, &store, "run", options.clone()).unwrap());
    }
}
