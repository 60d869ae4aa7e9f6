//! Structure-aware whole-path target: a random verified-looking program
//! (see `nativm_fuzz::gen`), wrapped in a minimal ELF, through
//! `Module::new` and `Engine::call` / `Executor`, with the determinism and
//! isolation checks of `nativm_fuzz::harness`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nativm_fuzz::gen::Program;

fuzz_target!(|program: Program| {
    nativm_fuzz::harness::run(&program);
});
