//! Reproducers of findings of the whole-path fuzzer (`fuzz/`, target
//! `whole_path`), as small hand-assembled contracts.
//!
//! Findings 1-4 are fixed (`vmm/src/guest.rs`, `guest-shim/src/main.rs`);
//! each test fails on the code before the fix. A new finding that cannot
//! be fixed at once is added `#[ignore]`d with the reason.

use nativm::{CallOptions, StateDb, Status};
use nativm_tests::engine;

const TEXT: u64 = 0x40_1000;
const BSS: u64 = 0x50_1000;

fn put(b: &mut Vec<u8>, at: usize, v: u64, w: usize) {
    if b.len() < at + w {
        b.resize(at + w, 0);
    }
    b[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
}

/// A static ET_EXEC ELF64: `code` at [`TEXT`] (R+X) as the method `run`,
/// and one zero page at [`BSS`] (RW), with section headers and a symbol
/// table.
fn contract(code: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 0x1000];
    f.extend_from_slice(code);
    while !f.len().is_multiple_of(8) {
        f.push(0);
    }
    let strtab = b"\0run\0";
    let shstrtab = b"\0.text\0.bss\0.symtab\0.strtab\0.shstrtab\0";
    let sym_off = f.len();
    f.resize(sym_off + 48, 0);
    put(&mut f, sym_off + 24, 1, 4); // st_name "run"
    f[sym_off + 24 + 4] = 0x12; // STB_GLOBAL, STT_FUNC
    put(&mut f, sym_off + 24 + 6, 1, 2); // st_shndx: .text
    put(&mut f, sym_off + 24 + 8, TEXT, 8);
    put(&mut f, sym_off + 24 + 16, code.len() as u64, 8);
    let str_off = f.len();
    f.extend_from_slice(strtab);
    let shstr_off = f.len();
    f.extend_from_slice(shstrtab);
    while !f.len().is_multiple_of(8) {
        f.push(0);
    }
    let shoff = f.len();
    // (name, type, flags, addr, offset, size, link, info, align, entsize)
    #[allow(clippy::type_complexity)] // one row per section header, as the comment says
    let sections: [(u64, u64, u64, u64, u64, u64, u64, u64, u64, u64); 6] = [
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        (1, 1, 6, TEXT, 0x1000, code.len() as u64, 0, 0, 16, 0),
        (
            7,
            8,
            3,
            BSS,
            0x1000 + code.len() as u64,
            0x1000,
            0,
            0,
            16,
            0,
        ),
        (12, 2, 0, 0, sym_off as u64, 48, 4, 1, 8, 24),
        (20, 3, 0, 0, str_off as u64, strtab.len() as u64, 0, 0, 1, 0),
        (
            28,
            3,
            0,
            0,
            shstr_off as u64,
            shstrtab.len() as u64,
            0,
            0,
            1,
            0,
        ),
    ];
    for s in sections {
        let at = f.len();
        put(&mut f, at, s.0, 4);
        put(&mut f, at + 4, s.1, 4);
        put(&mut f, at + 8, s.2, 8);
        put(&mut f, at + 16, s.3, 8);
        put(&mut f, at + 24, s.4, 8);
        put(&mut f, at + 32, s.5, 8);
        put(&mut f, at + 40, s.6, 4);
        put(&mut f, at + 44, s.7, 4);
        put(&mut f, at + 48, s.8, 8);
        put(&mut f, at + 56, s.9, 8);
    }
    f[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    put(&mut f, 0x10, 2, 2); // ET_EXEC
    put(&mut f, 0x12, 62, 2); // EM_X86_64
    put(&mut f, 0x14, 1, 4);
    put(&mut f, 0x18, TEXT, 8);
    put(&mut f, 0x20, 64, 8);
    put(&mut f, 0x28, shoff as u64, 8);
    put(&mut f, 0x34, 64, 2);
    put(&mut f, 0x36, 56, 2);
    put(&mut f, 0x38, 2, 2);
    put(&mut f, 0x3a, 64, 2);
    put(&mut f, 0x3c, 6, 2);
    put(&mut f, 0x3e, 5, 2);
    // PT_LOAD R+X for .text, PT_LOAD RW for .bss.
    let phdrs = [
        (5u64, 0x1000u64, TEXT, code.len() as u64, code.len() as u64),
        (6, 0x1000 + code.len() as u64, BSS, 0, 0x1000),
    ];
    for (i, (flags, off, vaddr, filesz, memsz)) in phdrs.into_iter().enumerate() {
        let at = 64 + 56 * i;
        put(&mut f, at, 1, 4);
        put(&mut f, at + 4, flags, 4);
        put(&mut f, at + 8, off, 8);
        put(&mut f, at + 16, vaddr, 8);
        put(&mut f, at + 24, vaddr, 8);
        put(&mut f, at + 32, filesz, 8);
        put(&mut f, at + 40, memsz, 8);
        put(&mut f, at + 48, 0x1000, 8);
    }
    f
}

/// A tiny assembler for the few instructions these tests need.
struct Asm(Vec<u8>);
impl Asm {
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// `mov e<reg>, imm32` (reg: 0 eax, 2 edx, 6 esi, 7 edi).
    fn mov32(&mut self, reg: u8, imm: u32) -> &mut Self {
        self.0.push(0xb8 + reg);
        self.0.extend_from_slice(&imm.to_le_bytes());
        self
    }
    /// `mov [abs32], rax`.
    fn store_rax(&mut self, addr: u32) -> &mut Self {
        self.bytes(&[0x48, 0x89, 0x04, 0x25]);
        self.0.extend_from_slice(&addr.to_le_bytes());
        self
    }
    /// `call HOSTCALL_ENTRY`.
    fn call_gate(&mut self) -> &mut Self {
        let next = TEXT + self.0.len() as u64 + 5;
        let rel = nativm_abi::HOSTCALL_ENTRY.wrapping_sub(next) as u32;
        self.0.push(0xe8);
        self.0.extend_from_slice(&rel.to_le_bytes());
        self
    }
    /// `set_return(addr, len)`, then `ret`.
    fn return_bytes(&mut self, addr: u32, len: u32) -> Vec<u8> {
        self.mov32(7, nativm_abi::hostcall::SET_RETURN as u32)
            .mov32(6, addr)
            .mov32(2, len)
            .call_gate()
            .bytes(&[0xc3]);
        self.0.clone()
    }
}

fn run(code: &[u8]) -> nativm::Receipt {
    let module = nativm::Module::new(engine(), &contract(code)).expect("the contract verifies");
    let store = StateDb::in_memory();
    engine()
        .call(&module, &store, "run", &CallOptions::default())
        .expect("the call runs")
}

const DF: u64 = 1 << 10;

/// Finding 1 (fuzz probe, `rflags_after_std_hostcall`): the ABI says the
/// host-call gate "clears the direction flag" (nativm_abi, "Host calls"),
/// but a host call that leaves the guest (every number but an in-limit
/// `set_return`) returns with DF as the caller left it. Only the gate's
/// in-guest `set_return` path has a `cld`.
#[test]
fn the_gate_clears_df_on_an_exiting_host_call() {
    // std; caller(BSS); pushfq; pop rax; mov [BSS+0x40], rax; cld;
    // set_return(BSS+0x40, 8); ret
    let code = Asm(Vec::new())
        .bytes(&[0xfd])
        .mov32(7, nativm_abi::hostcall::CALLER as u32)
        .mov32(6, BSS as u32)
        .call_gate()
        .bytes(&[0x9c, 0x58])
        .store_rax(BSS as u32 + 0x40)
        .bytes(&[0xfc])
        .return_bytes(BSS as u32 + 0x40, 8);
    let r = run(&code);
    assert_eq!(r.outcome.status, Status::Ok, "{r:?}");
    let rflags = u64::from_le_bytes(r.outcome.return_data[..8].try_into().unwrap());
    assert_eq!(
        rflags & DF,
        0,
        "RFLAGS after the host call: {rflags:#x} (DF is set)"
    );
}

/// The in-guest `set_return` path does clear DF (the reference for the
/// test above).
#[test]
fn the_gate_clears_df_on_an_in_guest_set_return() {
    // std; set_return(BSS, 0); pushfq; pop rax; mov [BSS+0x40], rax; cld;
    // set_return(BSS+0x40, 8); ret
    let code = Asm(Vec::new())
        .bytes(&[0xfd])
        .mov32(7, nativm_abi::hostcall::SET_RETURN as u32)
        .mov32(6, BSS as u32)
        .mov32(2, 0)
        .call_gate()
        .bytes(&[0x9c, 0x58])
        .store_rax(BSS as u32 + 0x40)
        .bytes(&[0xfc])
        .return_bytes(BSS as u32 + 0x40, 8);
    let r = run(&code);
    assert_eq!(r.outcome.status, Status::Ok, "{r:?}");
    let rflags = u64::from_le_bytes(r.outcome.return_data[..8].try_into().unwrap());
    assert_eq!(rflags & DF, 0, "RFLAGS after set_return: {rflags:#x}");
}

/// Finding 2 (fuzz probe, registers at entry): the ABI says a method is
/// entered with "all other general registers zero" (besides rdi, rsi and
/// rsp), but `rax` holds the method's prepared-code address (the runtime
/// loop's `call rax`).
#[test]
fn rax_is_zero_at_method_entry() {
    let code = Asm(Vec::new())
        .store_rax(BSS as u32)
        .return_bytes(BSS as u32, 8);
    let r = run(&code);
    assert_eq!(r.outcome.status, Status::Ok, "{r:?}");
    let rax = u64::from_le_bytes(r.outcome.return_data[..8].try_into().unwrap());
    assert_eq!(rax, 0, "rax at entry: {rax:#x}");
}

/// `mov ecx, count; 1: dec ecx; jnz 1b; <last>; ret`.
fn spin_then(count: u32, last: &[u8]) -> Vec<u8> {
    let mut code = Asm(Vec::new());
    code.mov32(1, count)
        .bytes(&[0xff, 0xc9, 0x75, 0xfc])
        .bytes(last)
        .bytes(&[0xc3]);
    code.0
}

/// `mov [DOORBELL_VA], eax`.
const DOORBELL_STORE: [u8; 7] = [0x89, 0x04, 0x25, 0x00, 0xf0, 0xff, 0x7f];
/// `ud2`.
const UD2: [u8; 2] = [0x0f, 0x0b];

fn run_with_gas(code: &[u8], gas: u64) -> nativm::Receipt {
    let module = nativm::Module::new(engine(), &contract(code)).expect("the contract verifies");
    let store = StateDb::in_memory();
    let options = CallOptions {
        gas_limit: Some(gas),
        ..Default::default()
    };
    engine()
        .call(&module, &store, "run", &options)
        .expect("the call runs")
}

/// The reference for finding 3: a contract that runs out of gas and then
/// traps ends `out_of_gas` ("the trap never happened in the metered
/// program", `Guest::trap`).
#[test]
fn a_trap_after_running_out_of_gas_is_out_of_gas() {
    let r = run_with_gas(&spin_then(100_000, &UD2), 10_000);
    assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
    assert_eq!(r.outcome.gas_used, 10_000);
}

/// Finding 3 (fuzz, oracles "gas used 0" and receipt equality): a doorbell
/// access from contract code ends the call as `forged_exit` without
/// reading the gas counter (`Action::ForgedExit` in `Guest::step`, unlike
/// `Guest::trap`). So (a) after the gas ran out it ends `trap` instead of
/// `out_of_gas`, unless the 5 ms backstop happened to tick in between,
/// which makes the receipt depend on timing (fuzz/README.md, "Results"),
/// and (b) its receipt reports the gas used as 0 whatever ran before.
#[test]
fn a_forged_exit_after_running_out_of_gas_is_out_of_gas() {
    let r = run_with_gas(&spin_then(100_000, &DOORBELL_STORE), 10_000);
    assert_eq!(r.outcome.status, Status::OutOfGas, "{r:?}");
    assert_eq!(r.outcome.gas_used, 10_000);
}

/// Finding 3 (b), within the limit: the gas used by the code before the
/// forged exit is reported as 0.
#[test]
fn a_forged_exit_reports_the_gas_used_before_it() {
    let r = run_with_gas(&spin_then(1_000, &DOORBELL_STORE), 1_000_000);
    assert_eq!(r.outcome.status, Status::Trap, "{r:?}");
    assert_eq!(
        r.outcome.trap.as_ref().and_then(|t| t.exception),
        Some("forged_exit")
    );
    // mov + 1000 x (dec, jnz) + the store, at one gas each (nativm_gas::cost).
    assert!(
        r.outcome.gas_used >= 2_000,
        "gas used {} after 2000+ instructions",
        r.outcome.gas_used
    );
}

/// Finding 4 (fuzz, oracle "gas used 0"): `set_return` with its data in
/// the doorbell page (mapped for ring 3, so the gate's in-guest copy reads
/// it) ends as a `forged_exit` exception at the runtime page's `rep movsb`
/// (`set_return_copy`, RIP 0x2000xx, `in_contract` true) with gas used 0,
/// instead of the host-call fault the ABI promises for a pointer the
/// contract may not use, which `log`, `abort` and `caller` give for the
/// same pointer ("... 0x7ffff000+8 is not readable by the contract").
#[test]
fn set_return_from_the_doorbell_page_is_a_host_call_fault() {
    let code = Asm(Vec::new()).return_bytes(nativm_abi::DOORBELL_VA as u32, 8);
    let r = run(&code);
    assert_eq!(r.outcome.status, Status::Trap, "{r:?}");
    let trap = r.outcome.trap.as_ref().unwrap();
    assert_eq!(trap.kind, "host_call", "{trap:?}");
    assert!(
        trap.message
            .contains("set_return: data 0x7ffff000+8 is not readable"),
        "{trap:?}"
    );
}

/// The reference for finding 4: `log` with the same pointer.
#[test]
fn log_from_the_doorbell_page_is_a_host_call_fault() {
    let code = Asm(Vec::new())
        .mov32(7, nativm_abi::hostcall::LOG as u32)
        .mov32(6, nativm_abi::DOORBELL_VA as u32)
        .mov32(2, 8)
        .call_gate()
        .bytes(&[0xc3])
        .0
        .clone();
    let r = run(&code);
    assert_eq!(r.outcome.status, Status::Trap, "{r:?}");
    let trap = r.outcome.trap.as_ref().unwrap();
    assert_eq!(trap.kind, "host_call", "{trap:?}");
    assert!(
        trap.message
            .contains("log: data 0x7ffff000+8 is not readable"),
        "{trap:?}"
    );
}
