//! Regression tests for verifier bugs the adversarial corpus found, one
//! test each, naming the exact bytes and why they matter. All five are
//! fixed; these keep them fixed. Bug 6 was found reviewing the manuals.
//!
//! 1. Unsound (rule 4): an instruction that leaves the flags *unchanged*
//!    on some executions (shifts and rotates by CL when CL is 0, SHLD/SHRD
//!    by CL, REP-prefixed CMPS/SCAS when RCX is 0) is treated as always
//!    defining them, so an undefined flag survives it unnoticed.
//! 2. False positive (rule 4): dead padding after an unconditional jump,
//!    and the fall-through after a call that never returns, are treated as
//!    reachable with every flag undefined; when the next block starts with
//!    a conditional jump (LLVM's loop heads; `core` at opt-level 0/1) the
//!    contract is rejected.
//! 3. Spurious violation (rule 5): SYSCALL, SYSENTER and VMCALL are also
//!    reported as "direct branch target 0x0 lies outside executable code".
//! 4. Wrong class (rule 3): SYSRETQ and SYSEXITQ are `not-allowed`
//!    (feature SYSCALL/SEP) instead of `privileged`: `DENIED` lists
//!    `Mnemonic::Sysret`/`Sysexit` but iced-x86 decodes the REX.W forms as
//!    `Sysretq`/`Sysexitq`.
//! 5. Wrong class (rule 2): an invalid opcode near the end of a section
//!    (`ce c3`: INTO, invalid in 64-bit mode, then RET) is reported as
//!    `truncated-instruction` rather than `invalid-encoding`.
//! 6. Unsound (rule 4): SHL/SHR of an 8- or 16-bit operand by a count
//!    (masked to 5 bits) of at least the operand width leaves CF undefined
//!    (Intel SDM Vol. 2B, SAL/SAR/SHL/SHR, "Flags Affected"), but iced-x86
//!    files CF as defined, so `shl al, 8; jc` was accepted.

mod common;

use common::{asm, check, classes, work_dir};
use nativm_verifier::Rule;

fn assert_rejected_for_undefined_flags(name: &str, body: &str, bytes_note: &str) {
    let dir = work_dir("verifier-bugs");
    let bytes = asm(&dir, name, body);
    let report = check(&bytes);
    assert!(
        report.has(Rule::UndefinedFlags, "undefined-flag-read"),
        "VERIFIER BUG 1 ({name}): {bytes_note} was accepted:\n{}",
        report.to_text()
    );
}

/// BUG 1a: `imul rax, rbx` (48 0f af c3) leaves SF undefined; `sar rdx, cl`
/// (48 d3 fa) does not touch the flags when CL = 0 (Intel SDM Vol. 2B,
/// SAL/SAR/SHL/SHR: "If the count is 0, the flags are not affected"), so
/// `js` (78 00) reads IMUL's undefined SF. Accepted today because the
/// transfer function kills every flag in `rflags_modified`.
#[test]
fn bug1_shift_by_cl_zero_keeps_undefined_flags() {
    assert_rejected_for_undefined_flags(
        "bug1-sar-cl",
        "imul rax, rbx\n sar rdx, cl\n js 1f\n1:",
        "48 0f af c3 / 48 d3 fa / 78 00 (imul; sar rdx,cl; js)",
    );
    assert_rejected_for_undefined_flags(
        "bug1-shl-cl",
        "imul rax, rbx\n shl rdx, cl\n jz 1f\n1:",
        "48 0f af c3 / 48 d3 e2 / 74 00 (imul; shl rdx,cl; jz)",
    );
}

/// BUG 1b: `shld rdx, rax, cl` (48 0f a5 c2) with CL = 0 leaves the flags
/// unchanged (Intel SDM Vol. 2B, SHLD).
#[test]
fn bug1_shld_by_cl_zero_keeps_undefined_flags() {
    assert_rejected_for_undefined_flags(
        "bug1-shld-cl",
        "imul rax, rbx\n shld rdx, rax, cl\n js 1f\n1:",
        "48 0f af c3 / 48 0f a5 c2 / 78 00 (imul; shld rdx,rax,cl; js)",
    );
}

/// BUG 1c: `repe cmpsb` (f3 a6) with RCX = 0 performs no comparison and
/// leaves the flags unchanged (Intel SDM Vol. 2B, REP/REPE/REPNE).
#[test]
fn bug1_rep_cmps_with_zero_count_keeps_undefined_flags() {
    assert_rejected_for_undefined_flags(
        "bug1-repe-cmpsb",
        "imul rax, rbx\n repe cmpsb\n js 1f\n1:",
        "48 0f af c3 / f3 a6 / 78 00 (imul; repe cmpsb; js)",
    );
    assert_rejected_for_undefined_flags(
        "bug1-repne-scasb",
        "imul rax, rbx\n repne scasb\n jz 1f\n1:",
        "48 0f af c3 / f2 ae / 74 00 (imul; repne scasb; jz)",
    );
}

/// BUG 2a: alignment padding after `jmp` is dead, but the analysis seeds it
/// with every flag undefined and lets it fall through into the aligned
/// block; that block starts with `jne` (75 xx), whose only real predecessor
/// is `jae` after `cmp`. Bytes: 48 39 f7 (cmp rdi,rsi) 73 xx (jae 2f)
/// eb xx (jmp 3f) 66 0f 1f 84 00 .. (nopw padding) 75 00 (2: jne 3f) c3.
/// LLVM emits exactly this for rotated loops (`.p2align 4` before a loop
/// head that is a conditional branch).
#[test]
fn bug2_dead_padding_does_not_leak_undefined_flags() {
    let dir = work_dir("verifier-bugs");
    let bytes = asm(
        &dir,
        "bug2-padding",
        "cmp rdi, rsi\n jae 2f\n jmp 3f\n .p2align 4\n2: jne 3f\n3:",
    );
    let report = check(&bytes);
    assert!(
        report.is_ok(),
        "VERIFIER BUG 2 (false positive): dead padding after jmp poisons the next block:\n{}",
        report.to_text()
    );
}

/// BUG 2b: `call die` (e8 ..) where `die` is `ud2` never returns, so the
/// instruction after the call is only reached from `jb` after `cmp`; it is
/// rejected because the call's fall-through is assumed to return with
/// every flag undefined. (rustc places the next block right after calls to
/// `-> !` panic functions.)
#[test]
fn bug2_call_to_function_that_never_returns() {
    let dir = work_dir("verifier-bugs");
    let bytes = asm(
        &dir,
        "bug2-noreturn",
        "cmp rdi, rsi\n jb 2f\n call die\n2: jne 3f\n3: ret\ndie: ud2",
    );
    let report = check(&bytes);
    assert!(
        report.is_ok(),
        "VERIFIER BUG 2 (false positive): fall-through after a call that never returns:\n{}",
        report.to_text()
    );
}

/// BUG 3: `syscall` (0f 05), `sysenter` (0f 34) and `vmcall` (0f 01 c1)
/// must be reported once, by rule 3; today rule 5 adds "direct branch
/// target 0x0 lies outside executable code" because iced-x86 gives them
/// `FlowControl::Call` without a near-branch operand.
#[test]
fn bug3_system_calls_are_not_direct_branches() {
    let dir = work_dir("verifier-bugs");
    for (name, body, class) in [
        ("bug3-syscall", "syscall", "system-call"),
        ("bug3-sysenter", "sysenter", "system-call"),
        ("bug3-vmcall", "vmcall", "not-allowed"),
    ] {
        let report = check(&asm(&dir, name, body));
        assert_eq!(
            classes(&report),
            [(Rule::AllowList, class)],
            "VERIFIER BUG 3: spurious control-flow violation for `{body}`:\n{}",
            report.to_text()
        );
    }
}

/// BUG 4: `sysretq` (48 0f 07) and `sysexitq` (48 0f 35) are privileged.
#[test]
fn bug4_sysretq_and_sysexitq_are_privileged() {
    let dir = work_dir("verifier-bugs");
    for (name, body) in [("bug4-sysretq", "sysretq"), ("bug4-sysexitq", "sysexitq")] {
        let report = check(&asm(&dir, name, body));
        assert_eq!(
            classes(&report),
            [(Rule::AllowList, "privileged")],
            "VERIFIER BUG 4: `{body}` has the wrong class:\n{}",
            report.to_text()
        );
    }
}

/// BUG 5: `ce` (INTO, invalid in 64-bit mode) followed by `c3` (RET) at
/// the end of `.text` is not a truncated instruction. (iced-x86's
/// `Decoder::last_error()` tells `NoMoreBytes` from `InvalidInstruction`.)
#[test]
fn bug5_invalid_opcode_at_end_is_not_truncated() {
    let dir = work_dir("verifier-bugs");
    let report = check(&asm(&dir, "bug5-into-ret", ".byte 0xce"));
    assert_eq!(
        classes(&report),
        [(Rule::CompleteDecoding, "invalid-encoding")],
        "VERIFIER BUG 5: misclassified invalid opcode:\n{}",
        report.to_text()
    );
}

/// BUG 2c, as compilers produce it: `tests/corpus/program.rs` built by
/// rustc at opt-level 0 without LTO links whole codegen units of the
/// precompiled `core` (`--no-gc-sections`), whose code has both patterns
/// of bug 2: `core::str::pattern::StrSearcher::new` has loop heads that
/// start with `jne` right after `jmp` + `nop dword ptr [rax]` padding, and
/// `core::str::slice_error_fail_rt` has `jne` right after
/// `call qword ptr [GOT]` to a panic function that never returns. The
/// report then has 4 `undefined-flag-read` violations, all false. (With
/// LTO, as the example contracts are built, it verifies.)
#[test]
fn bug2_rustc_opt_level_0_without_lto() {
    let bytes = common::build_rust("bug2-rust-O0-no-lto", &["-C", "opt-level=0"])
        .unwrap_or_else(|e| panic!("{e}"));
    let report = check(&bytes);
    let flagged: Vec<String> = report
        .violations
        .iter()
        .map(|v| {
            format!(
                "{}/{} {:?} {}",
                v.rule.as_str(),
                v.class,
                v.symbol,
                v.disassembly
            )
        })
        .collect();
    assert!(
        report.is_ok(),
        "VERIFIER BUG 2 (false positive) on rustc output:\n{}",
        flagged.join("\n")
    );
}

/// Found by `cargo fuzz` (verify_bytes): an executable section at the top of
/// the address space made instruction addresses wrap past 2^64, and the
/// report's offset arithmetic overflowed. Code outside the contract window
/// (already a rule-1 violation) is no longer swept.
#[test]
fn fuzz_wrapping_instruction_pointer_does_not_panic() {
    let bytes = include_bytes!("corpus/fuzz-wrapping-ip.bin");
    let report = nativm_verifier::verify(bytes, &nativm_verifier::Config::default());
    assert!(!report.is_ok());
    assert!(report
        .violations
        .iter()
        .any(|v| v.rule == nativm_verifier::Rule::ElfStructure));
}

/// Every input the fuzzers ever flagged (`verifier/fuzz/artifacts-found/`:
/// overflow panics at the top of the address space, and a file whose flags
/// analysis used to take quadratic time) verifies to a report with
/// violations and no panic.
#[test]
fn every_saved_fuzz_artifact_is_handled() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/artifacts-found");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz artifacts directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let report = nativm_verifier::verify(&bytes, &nativm_verifier::Config::default());
        assert_eq!(
            report.is_ok(),
            report.violations.is_empty(),
            "{}",
            path.display()
        );
        seen += 1;
    }
    assert!(
        seen >= 4,
        "expected the saved artifacts in {}",
        dir.display()
    );
}

/// BUG 6: `shl al, 8` (c0 e0 08) leaves CF undefined: "it is undefined for
/// SHL and SHR instructions where the count is greater than or equal to
/// the size (in bits) of the destination operand" (Intel SDM Vol. 2B,
/// SAL/SAR/SHL/SHR). The count is masked to 5 bits, so only 8- and 16-bit
/// operands reach it, by an immediate of 8 (16) or more, or by CL.
#[test]
fn bug6_narrow_shift_by_width_leaves_cf_undefined() {
    let dir = work_dir("verifier-bugs");
    for (name, body) in [
        ("bug6-shl8-8-jc", "shl al, 8\n jc 1f\n1:"),
        ("bug6-sal8-31-adc", "sal byte ptr [rdi], 31\n adc eax, 0"),
        ("bug6-shr16-16-setc", "shr dx, 16\n setc al"),
        (
            "bug6-shr16-mem-17-jae",
            "shr word ptr [rdi], 17\n jae 1f\n1:",
        ),
        ("bug6-shl8-cl-cmovc", "shl dl, cl\n cmovc eax, ecx"),
        ("bug6-shr16-cl-sbb", "shr ax, cl\n sbb eax, eax"),
    ] {
        let report = check(&asm(&dir, name, body));
        assert_eq!(
            classes(&report),
            [(Rule::UndefinedFlags, "undefined-flag-read")],
            "VERIFIER BUG 6 ({name}): `{body}` reads an undefined CF:\n{}",
            report.to_text()
        );
        assert!(
            report.violations[0].message.contains("CF"),
            "{}",
            report.to_text()
        );
    }
    // Below the width, at 32 and 64 bits, and with the count masking to a
    // value below the width, CF is the last bit shifted out: defined.
    for (name, body) in [
        ("bug6-ok-shl8-7", "shl al, 7\n jc 1f\n1:"),
        ("bug6-ok-shr16-15", "shr word ptr [rdi], 15\n setc al"),
        ("bug6-ok-shl8-33", "shl al, 33\n jc 1f\n1:"),
        ("bug6-ok-shl32-31", "shl eax, 31\n jc 1f\n1:"),
        ("bug6-ok-shr64-63", "shr rax, 63\n adc edx, 0"),
    ] {
        let report = check(&asm(&dir, name, body));
        assert!(report.is_ok(), "{name}: {}", report.to_text());
    }
}
