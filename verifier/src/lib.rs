//! # nativm-verifier
//!
//! Proves that a contract ELF uses only the *Deterministic AMD64* subset:
//! code that behaves the same on every x86-64 validator, Intel or AMD. On
//! the development machines the CPU traps none of `rdtsc`, `rdrand`,
//! `cpuid` or AVX in guest ring 3, so this crate is the only line of
//! defense there; on bare metal the CPU can add traps, but nothing here
//! relies on them.
//!
//! [`verify`] checks five rules and reports **every** violation, not just
//! the first, each with its rule, a machine-readable class, the section,
//! the address, the instruction's bytes and disassembly, and the symbol
//! containing it:
//!
//! 1. **ELF structure** ([`elf`]): ELF64, x86-64, static `ET_EXEC`; no
//!    `PT_INTERP`, `PT_DYNAMIC`, `PT_TLS`, or loader-applied relocation
//!    sections; segments inside the contract window, none writable and
//!    executable, none sharing a page; size limits ([`Config`]); methods
//!    (global default-visibility `STT_FUNC` symbols) inside executable code;
//!    executable-segment bytes outside executable sections only padding.
//! 2. **Complete decoding** ([`analysis`]): every byte of every executable
//!    section decodes as valid 64-bit code in one linear sweep (iced-x86),
//!    padding included; no encoding that Intel and AMD decode differently
//!    (66-prefixed near branches and returns, UD0).
//! 3. **Allow-list** ([`allowlist`]): only instructions whose CPUID
//!    features are in one documented table, minus a table of denied
//!    instructions (time, randomness, CPU identity, x87, MMX, FPU state
//!    save/restore, LDMXCSR, segment writes and FS/GS overrides, system and
//!    I/O instructions, TSX, approximate reciprocals, ...), each with its
//!    reason and manual reference; and no operand form whose *result* the
//!    manuals leave undefined (16-bit SHLD/SHRD by more than 16 or by CL,
//!    BSWAP of a 16-bit register, MASKMOVDQU; the table "Value-undefined
//!    results" in [`allowlist`] lists every instruction considered).
//! 4. **Flags** ([`analysis`]): a dataflow analysis over the control-flow
//!    graph rejects any instruction that may read an arithmetic flag that
//!    some path left undefined (IMUL's SF/ZF/AF/PF, BSF/BSR, shifts and
//!    rotates by more than 1, ...; iced-x86's `rflags_undefined`, plus CF
//!    after SHL/SHR of an 8- or 16-bit operand by at least its width).
//! 5. **Control flow** ([`analysis`]): every direct branch or call target
//!    (jmp, jcc, call, loop, jrcxz) is the start of a decoded instruction
//!    inside executable code; the one exception is a direct `call` of the
//!    runtime's host-call entry, `nativm_abi::HOSTCALL_ENTRY`. Every other
//!    direct branch into the runtime page (`nativm_abi::RUNTIME_BASE`, one
//!    page), a `jmp` to the entry included, is refused. Control never falls
//!    off the end of code. Indirect branches are allowed and listed in the
//!    report (the artifact checks them at run time).
//!
//! Violation classes (`Violation::class`):
//! rule 1: `not-elf`, `truncated`, `not-elf64`, `not-little-endian`,
//! `malformed`, `not-x86-64`, `not-static-executable`, `interpreter`,
//! `dynamic`, `tls`, `relocations`, `segment-outside-window`, `segment-wx`,
//! `segment-overlap`, `size-limit`, `no-code`, `code-without-bytes`,
//! `code-outside-segment`, `section-overlap`, `method-not-in-code`,
//! `hidden-code`;
//! rule 2: `invalid-encoding`, `truncated-instruction`,
//! `vendor-dependent-encoding`;
//! rule 3: `time`, `randomness`, `cpu-identity`, `pkru`,
//! `descriptor-table`, `system-call`, `privileged`, `tsx`, `wait`, `sgx`,
//! `ptwrite`, `approximate-float`, `mmx`, `x87`, `fpu-state`, `fsgsbase`,
//! `segment-write`, `segment-override`, `io`, `far-transfer`,
//! `vendor-dependent-encoding`, `invalid`, `undefined-result`,
//! `not-allowed`;
//! rule 4: `undefined-flag-read`;
//! rule 5: `branch-into-instruction`, `branch-outside-code`,
//! `branch-into-runtime`, `falls-off-end`, `method-not-instruction-start`.
//!
//! Verification is linear in code size: one decoding pass, a dataflow over
//! a 6-bit lattice (each instruction is revisited at most 7 times), and
//! binary searches for branch targets. It never panics on any input.

pub mod allowlist;
pub mod analysis;
pub mod elf;
pub mod report;

pub use report::{IndirectBranch, Report, Rule, Stats, Violation};

/// Limits and options of the verifier. The default limits are
/// [`nativm_abi::elf_limits`], the one place they are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Admit AVX and AVX2 instructions (off by default; see [`allowlist`]).
    pub allow_avx2: bool,
    /// Largest ELF file, in bytes (default 64 MiB).
    pub max_file_size: u64,
    /// Largest total memory size of executable segments, in bytes (default 32 MiB).
    pub max_code_size: u64,
    /// Largest total memory size of non-executable segments, in bytes (default 256 MiB).
    pub max_data_size: u64,
    /// Most loadable segments (default 16).
    pub max_segments: usize,
    /// Most symbol-table entries (default 1 048 576).
    pub max_symbols: usize,
    /// Most executable sections (default and ceiling 65 535: rules 2-5
    /// index sections with 16 bits, so a larger value acts as 65 535).
    pub max_code_sections: usize,
}

/// Ceiling of [`Config::max_code_sections`]: the analysis indexes code
/// regions with 16 bits.
pub const MAX_CODE_SECTIONS: usize = u16::MAX as usize;

impl Default for Config {
    fn default() -> Self {
        Config {
            allow_avx2: false,
            max_file_size: nativm_abi::elf_limits::MAX_FILE_SIZE,
            max_code_size: nativm_abi::elf_limits::MAX_CODE_SIZE,
            max_data_size: nativm_abi::elf_limits::MAX_DATA_SIZE,
            max_segments: nativm_abi::elf_limits::MAX_SEGMENTS,
            max_symbols: 1 << 20,
            max_code_sections: MAX_CODE_SECTIONS,
        }
    }
}

/// Verifies a contract ELF, returning the full report. Never panics and
/// never fails: malformed input is a rule-1 violation.
pub fn verify(elf_bytes: &[u8], config: &Config) -> Report {
    verify_and_parse(elf_bytes, config).0
}

/// Verifies a contract ELF like [`verify`] and also returns what rule 1
/// parsed (code regions, function symbols, loadable segments), so that the
/// translator and the loader use exactly what was checked and the file is
/// parsed once. The parse is meaningful only when the report has no
/// violation.
pub fn verify_and_parse<'a>(elf_bytes: &'a [u8], config: &Config) -> (Report, elf::Parsed<'a>) {
    let mut report = Report::default();
    let parsed = elf::check(elf_bytes, config, &mut report.violations);
    report.methods = parsed
        .functions
        .iter()
        .filter(|f| f.method)
        .map(|f| f.name.clone())
        .collect();
    report.methods.dedup();
    report.stats.methods = report.methods.len() as u64;
    let structural_failure = report.violations.iter().any(|v| {
        matches!(
            v.class,
            "not-elf"
                | "truncated"
                | "not-elf64"
                | "not-little-endian"
                | "malformed"
                | "size-limit"
                | "section-overlap"
        )
    });
    if !structural_failure {
        // Code outside the contract window is already a rule-1 violation
        // (segment-outside-window); it is not swept, so no address
        // arithmetic can wrap past 2^64.
        let code: Vec<_> = parsed
            .code
            .iter()
            .filter(|r| {
                r.addr >= nativm_abi::CONTRACT_WINDOW_START
                    && r.addr
                        .checked_add(r.bytes.len() as u64)
                        .is_some_and(|e| e <= nativm_abi::CONTRACT_WINDOW_END)
            })
            .cloned()
            .collect();
        analysis::analyse(&code, &parsed.functions, config, &mut report);
    }
    report
        .violations
        .sort_by(|a, b| a.rule.cmp(&b.rule).then(a.address.cmp(&b.address)));
    (report, parsed)
}
