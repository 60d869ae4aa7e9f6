//! Rule 3: the instruction allow-list.
//!
//! An instruction is allowed when (a) no entry of [`DENIED`] or of the
//! operand rules in [`check`] names it, and (b) every CPUID feature iced-x86
//! reports for its encoding is in [`BASELINE_FEATURES`] (or, with
//! [`crate::Config::allow_avx2`], in [`AVX2_FEATURES`]). Everything else is
//! rejected: the list is an allow-list, not a deny-list; [`DENIED`] only
//! gives the precise reason for instructions the features alone would let
//! through (or that deserve a specific message).
//!
//! ## The baseline ("Deterministic AMD64")
//!
//! x86-64 integer instructions, CMOV, CMPXCHG8B/16B, SSE through SSE4.2
//! (IEEE-754 arithmetic is exactly specified; the MXCSR is fixed at its reset
//! value because `LDMXCSR` is denied and the runtime resets it per call),
//! POPCNT, BMI1, BMI2, LZCNT, MOVBE, multi-byte NOP, PAUSE, and ENDBR64
//! (a NOP on CPUs without CET). A validator CPU must implement all of them:
//! in particular `F3 0F BC/BD` mean TZCNT/LZCNT there, never BSF/BSR (on a
//! CPU without BMI1/LZCNT they would silently execute as BSF/BSR and give
//! other results; Intel SDM Vol. 2B, LZCNT and TZCNT).
//!
//! ## AVX and AVX2: off by default
//!
//! AVX/AVX2 integer and IEEE arithmetic is deterministic, but (1) the
//! upper YMM state and the SSE/AVX transition penalties make the FPU state
//! larger than the per-call reset covers today (`fxrstor` resets XMM only),
//! and (2) not every validator CPU has AVX2. [`crate::Config::allow_avx2`]
//! admits the AVX and AVX2 features (not FMA, F16C, AVX-512 or VEX forms of
//! denied instructions) for deployments that reset YMM state and require
//! AVX2 of every validator.
//!
//! ## Notes on allowed instructions with a vendor caveat
//!
//! * `BSF`/`BSR` leave the destination undefined (Intel SDM Vol. 2A,
//!   BSF/BSR: "If the content of the source operand is 0, the content of
//!   the destination operand is undefined") or unchanged (AMD APM Vol. 3,
//!   BSF/BSR) when the source is zero. They are allowed because they are
//!   made deterministic by translation 2: destination unchanged, ZF=1. The
//!   translator (`gas/src/translate.rs`) emits each one as
//!   `test src, src; jz next; bsf/bsr dst, src`, so for a zero source the
//!   BSF/BSR never executes and every bit of the destination keeps its
//!   value on every CPU (for a 32-bit destination, bits 63:32 included).
//!   Their undefined flags (CF, OF, SF, AF, PF) are still caught by rule 4,
//!   which does not rely on the translation.
//! * `UD2` and `INT3` trap deterministically (#UD, #BP) and are allowed:
//!   rustc emits `ud2` for `unreachable` and aborts; linkers pad with `int3`.
//!
//! ## Value-undefined results
//!
//! Rule 4 covers undefined *flags*. This table covers undefined *results*
//! (a register or memory destination, or whether the instruction faults)
//! for the instructions of the baseline: each instruction considered, what
//! the manuals say, and what nativm does. Rejected forms have the class
//! `undefined-result` ([`undefined_result`], and [`DENIED`] for
//! MASKMOVDQU).
//!
//! | instruction | manuals | nativm |
//! | --- | --- | --- |
//! | `SHLD`/`SHRD r/m16, r16, imm8` with `imm8 & 31` > 16 | destination undefined: "If the count is greater than the operand size, the result is undefined" (Intel SDM Vol. 2B, SHLD/SHRD; AMD APM Vol. 3, SHLD/SHRD, for the masked count) | reject |
//! | `SHLD`/`SHRD r/m16, r16, CL` | as above for CL & 31 > 16; CL is not known statically | reject |
//! | `SHLD`/`SHRD r/m16` with `imm8 & 31` <= 16; 32- and 64-bit forms | defined: the count is masked to 5 (6 with REX.W) bits, so it never exceeds 32 (64) bits; OF (count > 1) and AF undefined: rule 4 | allowed |
//! | `BSWAP r16` (`66 0F C8+r`) | "When the BSWAP instruction references a 16-bit register, the result is undefined" (Intel SDM Vol. 2A, BSWAP; AMD APM Vol. 3, BSWAP) | reject |
//! | `BSF`/`BSR` with a zero source | destination undefined (Intel SDM Vol. 2A) / unchanged (AMD APM Vol. 3) | allowed: made deterministic by translation 2: destination unchanged, ZF=1 (see above) |
//! | `MASKMOVDQU` with an all-zero mask | nothing stored, but "Exceptions associated with addressing memory and page faults may still be signaled (implementation dependent)" (Intel SDM Vol. 2B, MASKMOVDQU) | reject (denied by name; also `VMASKMOVDQU`) |
//! | `LZCNT`/`TZCNT` with a zero source | defined: the operand size, CF=1 (Intel SDM Vol. 2A/2B, LZCNT/TZCNT) | allowed; the baseline requires LZCNT and BMI1, so `F3 0F BD/BC` never run as BSR/BSF |
//! | `POPCNT` | defined for all sources | allowed |
//! | `BEXTR` with start or length >= operand size | defined: bits past the operand are zero, start >= size gives 0 (Intel SDM Vol. 2A, BEXTR, Operation) | allowed |
//! | `BZHI` with index >= operand size | defined: destination = source, CF=1 (Intel SDM Vol. 2A, BZHI) | allowed |
//! | `PDEP`/`PEXT` | defined for every source and mask (Intel SDM Vol. 2B, PDEP/PEXT) | allowed |
//! | `SHLX`/`SHRX`/`SARX`/`RORX` | defined: count masked to 5/6 bits, no flags (Intel SDM Vol. 2B) | allowed |
//! | `MULX` with both destinations the same register | defined: "it will contain the high half of the multiplication result" (Intel SDM Vol. 2B, MULX) | allowed |
//! | `ANDN`, `BLSI`, `BLSMSK`, `BLSR` | defined | allowed |
//! | `SHL`/`SHR`/`SAR` of 8/16-bit operands by a masked count >= the width | defined: the Operation loop shifts `count & 31` times (0 for SHL/SHR, sign fill for SAR) (Intel SDM Vol. 2B, SAL/SAR/SHL/SHR); OF undefined, and CF for SHL/SHR by a count >= the width: rule 4 | allowed |
//! | `ROL`/`ROR`/`RCL`/`RCR` | defined: count masked, then modulo the width (9 or 17 for RCL/RCR of bytes and words); OF undefined: rule 4 (Intel SDM Vol. 2B, RCL/RCR/ROL/ROR) | allowed |
//! | `MUL`/`IMUL` | results defined; SF, ZF, AF, PF undefined: rule 4 | allowed |
//! | `DIV`/`IDIV` | zero divisor or a quotient too large: #DE, a deterministic trap; every flag undefined: rule 4 | allowed |
//! | `BT`/`BTS`/`BTR`/`BTC` | defined (bit-string addressing for a register offset); OF, SF, AF, PF undefined: rule 4 | allowed |
//! | `CMOVcc r32` | defined: bits 63:32 cleared even when the condition is false (Intel SDM Vol. 2A, CMOVcc) | allowed |
//! | `CMPXCHG`, `CMPXCHG8B`/`CMPXCHG16B`, `XADD`, `XCHG` | defined (CMPXCHG16B: #GP when misaligned, deterministic) | allowed |
//! | `AAA`/`AAS`/`AAM`/`AAD`/`DAA`/`DAS` (AAM/AAD undefined flags and #DE) | invalid in 64-bit mode | rule 2 (`invalid-encoding`) |
//! | SSE/SSE2 conversions to integers (`CVT(T)SS2SI`, `CVT(T)PS2DQ`, ...) out of range or NaN | defined: the integer indefinite value `0x80...0` (Intel SDM Vol. 2A, CVTSD2SI: "the indefinite integer value (80000000H) is returned") | allowed |
//! | SSE arithmetic with NaN operands, `MIN*`/`MAX*` with NaN or signed zeros | defined: the NaN rules of Intel SDM Vol. 1, 4.8.3.5, Table 4-7 (first source's NaN, or the QNaN floating-point indefinite); MIN/MAX return the second operand (Intel SDM Vol. 2B, MINPS/MAXPS) | allowed |
//! | `DPPS`/`DPPD` | defined: the Operation section fixes the summation order and rounds each step by MXCSR (Intel SDM Vol. 2A, DPPS/DPPD) | allowed |
//! | `PSLL*`/`PSRL*`/`PSRA*` by a count >= the element width | defined: zero (logical) or sign fill (arithmetic) | allowed |
//! | `PSHUFB` with index bit 7 set | defined: zero | allowed |
//! | `PCMPESTR*`/`PCMPISTR*` with lengths beyond 16 (8) elements | defined: lengths saturate (Intel SDM Vol. 2B, 4.1) | allowed |
//! | `LDDQU` | defined: the same 16 bytes as `MOVDQU` for ordinary (write-back) memory | allowed |
//! | `RCPPS`/`RCPSS`/`RSQRTPS`/`RSQRTSS` | approximations whose results differ between vendors | reject (`approximate-float`, in [`DENIED`]) |
//! | `MOVNTI`, `MOVNTDQ`, `MOVNTPS`, `MOVNTPD` (and VEX forms) | defined, but they bypass the caches: a loop of them is bounded by DRAM write latency, too slow per gas for the cost model (issue 16) | reject (`non-temporal`, in [`DENIED`]); `MOVNTDQA` (a load, ordinary on write-back memory) is allowed |
//! | `EXTRQ`/`INSERTQ` (SSE4A) | result undefined when length + index > 64 (AMD APM Vol. 4) | reject: SSE4A is not in the baseline (`not-allowed`) |

use iced_x86::{Code, CpuidFeature, FlowControl, Instruction, Mnemonic, OpKind, Register};

/// Features whose instructions are allowed (unless denied by name or
/// operand below).
pub const BASELINE_FEATURES: &[CpuidFeature] = &[
    CpuidFeature::INTEL8086,
    CpuidFeature::INTEL186,
    CpuidFeature::INTEL286,
    CpuidFeature::INTEL386,
    CpuidFeature::INTEL486,
    CpuidFeature::X64,
    CpuidFeature::CMOV,
    CpuidFeature::CX8,
    CpuidFeature::CMPXCHG16B,
    CpuidFeature::SSE,
    CpuidFeature::SSE2,
    CpuidFeature::SSE3,
    CpuidFeature::SSSE3,
    CpuidFeature::SSE4_1,
    CpuidFeature::SSE4_2,
    CpuidFeature::POPCNT,
    CpuidFeature::BMI1,
    CpuidFeature::BMI2,
    CpuidFeature::LZCNT,
    CpuidFeature::MOVBE,
    CpuidFeature::MULTIBYTENOP,
    CpuidFeature::PAUSE,
    CpuidFeature::CET_IBT,
];

/// Extra features allowed with [`crate::Config::allow_avx2`].
pub const AVX2_FEATURES: &[CpuidFeature] = &[CpuidFeature::AVX, CpuidFeature::AVX2];

/// Instructions denied by name, with a reason class and the reason.
/// Sources: Intel SDM Vol. 2 (instruction pages), Vol. 3A 2.8 (system
/// instructions); AMD APM Vol. 3.
pub const DENIED: &[(Mnemonic, &str, &str)] = &[
    (Mnemonic::Rdtsc, "time", "reads the time-stamp counter: differs on every run and machine (Intel SDM Vol. 2B, RDTSC)"),
    (Mnemonic::Rdtscp, "time", "reads the time-stamp counter and processor ID (Intel SDM Vol. 2B, RDTSCP)"),
    (Mnemonic::Rdpid, "time", "reads the processor ID (TSC_AUX): differs between CPUs (Intel SDM Vol. 2B, RDPID)"),
    (Mnemonic::Rdpmc, "time", "reads a performance counter (Intel SDM Vol. 2B, RDPMC)"),
    (Mnemonic::Rdpru, "time", "reads a processor register such as MPERF/APERF (AMD APM Vol. 3, RDPRU)"),
    (Mnemonic::Rdrand, "randomness", "returns hardware random numbers (Intel SDM Vol. 2B, RDRAND)"),
    (Mnemonic::Rdseed, "randomness", "returns hardware random seeds (Intel SDM Vol. 2B, RDSEED)"),
    (Mnemonic::Cpuid, "cpu-identity", "reveals the CPU vendor, model and features (Intel SDM Vol. 2A, CPUID)"),
    (Mnemonic::Xgetbv, "cpu-identity", "reveals the enabled XSAVE state components (Intel SDM Vol. 2C, XGETBV)"),
    (Mnemonic::Xsetbv, "privileged", "writes XCR0: privileged (Intel SDM Vol. 2C, XSETBV)"),
    (Mnemonic::Rdpkru, "pkru", "reads protection-key rights, host-configured state (Intel SDM Vol. 2B, RDPKRU)"),
    (Mnemonic::Wrpkru, "pkru", "writes protection-key rights (Intel SDM Vol. 2C, WRPKRU)"),
    (Mnemonic::Sgdt, "descriptor-table", "reveals the GDT address of the guest (Intel SDM Vol. 2B, SGDT)"),
    (Mnemonic::Sidt, "descriptor-table", "reveals the IDT address of the guest (Intel SDM Vol. 2B, SIDT)"),
    (Mnemonic::Sldt, "descriptor-table", "reveals the LDT selector (Intel SDM Vol. 2B, SLDT)"),
    (Mnemonic::Smsw, "descriptor-table", "reveals CR0 bits of the guest (Intel SDM Vol. 2B, SMSW)"),
    (Mnemonic::Str, "descriptor-table", "reveals the task register (Intel SDM Vol. 2B, STR)"),
    (Mnemonic::Lar, "descriptor-table", "reads segment descriptor rights (Intel SDM Vol. 2A, LAR)"),
    (Mnemonic::Lsl, "descriptor-table", "reads segment limits (Intel SDM Vol. 2A, LSL)"),
    (Mnemonic::Verr, "descriptor-table", "probes segment descriptors (Intel SDM Vol. 2C, VERR)"),
    (Mnemonic::Verw, "descriptor-table", "probes segment descriptors; also a CPU-buffer-clearing side channel idiom (Intel SDM Vol. 2C, VERW)"),
    (Mnemonic::Syscall, "system-call", "enters the kernel; contracts reach the host only through host calls (Intel SDM Vol. 2B, SYSCALL)"),
    (Mnemonic::Sysenter, "system-call", "enters the kernel (Intel SDM Vol. 2B, SYSENTER)"),
    (Mnemonic::Sysexit, "privileged", "returns from the kernel: privileged (Intel SDM Vol. 2B, SYSEXIT)"),
    (Mnemonic::Sysretq, "privileged", "returns from the kernel: privileged (Intel SDM Vol. 2B, SYSRET)"),
    (Mnemonic::Sysexitq, "privileged", "returns from the kernel: privileged (Intel SDM Vol. 2B, SYSEXIT)"),
    (Mnemonic::Sysret, "privileged", "returns from the kernel: privileged (Intel SDM Vol. 2B, SYSRET)"),
    (Mnemonic::Int, "system-call", "software interrupt into the guest kernel (Intel SDM Vol. 2A, INT n)"),
    (Mnemonic::Int1, "system-call", "ICEBP debug trap; behaves differently under debuggers and hypervisors (Intel SDM Vol. 2A, INT1)"),
    (Mnemonic::Into, "system-call", "interrupt on overflow; invalid in 64-bit mode (Intel SDM Vol. 2A, INTO)"),
    (Mnemonic::Iret, "privileged", "interrupt return changes privilege and flags state (Intel SDM Vol. 2A, IRET)"),
    (Mnemonic::Iretd, "privileged", "interrupt return changes privilege and flags state (Intel SDM Vol. 2A, IRET)"),
    (Mnemonic::Iretq, "privileged", "interrupt return changes privilege and flags state (Intel SDM Vol. 2A, IRET)"),
    (Mnemonic::Xbegin, "tsx", "transactional memory aborts for timing-dependent reasons (Intel SDM Vol. 2D, XBEGIN)"),
    (Mnemonic::Xend, "tsx", "transactional memory (Intel SDM Vol. 2D, XEND)"),
    (Mnemonic::Xabort, "tsx", "transactional memory (Intel SDM Vol. 2D, XABORT)"),
    (Mnemonic::Xtest, "tsx", "reveals transactional state (Intel SDM Vol. 2D, XTEST)"),
    (Mnemonic::Umonitor, "wait", "user-mode monitor: waits are timing-dependent (Intel SDM Vol. 2B, UMONITOR)"),
    (Mnemonic::Umwait, "wait", "user-mode wait: timing-dependent, sets CF from a timer (Intel SDM Vol. 2B, UMWAIT)"),
    (Mnemonic::Tpause, "wait", "timed pause against the TSC (Intel SDM Vol. 2B, TPAUSE)"),
    (Mnemonic::Monitor, "wait", "monitor/mwait: privileged or timing-dependent (Intel SDM Vol. 2B, MONITOR)"),
    (Mnemonic::Mwait, "wait", "monitor/mwait: privileged or timing-dependent (Intel SDM Vol. 2B, MWAIT)"),
    (Mnemonic::Monitorx, "wait", "AMD monitorx: timing-dependent (AMD APM Vol. 3, MONITORX)"),
    (Mnemonic::Mwaitx, "wait", "AMD mwaitx with a timer (AMD APM Vol. 3, MWAITX)"),
    (Mnemonic::Enclu, "sgx", "SGX enclave instructions (Intel SDM Vol. 3D, ENCLU)"),
    (Mnemonic::Encls, "sgx", "SGX enclave instructions (Intel SDM Vol. 3D, ENCLS)"),
    (Mnemonic::Enclv, "sgx", "SGX enclave instructions (Intel SDM Vol. 3D, ENCLV)"),
    (Mnemonic::Ptwrite, "ptwrite", "writes to the processor trace stream (Intel SDM Vol. 2B, PTWRITE)"),
    (Mnemonic::Rcpps, "approximate-float", "approximate reciprocal: results differ between Intel and AMD (Intel SDM Vol. 2B, RCPPS: relative error <= 1.5*2^-12)"),
    (Mnemonic::Rcpss, "approximate-float", "approximate reciprocal: results differ between Intel and AMD (Intel SDM Vol. 2B, RCPSS)"),
    (Mnemonic::Rsqrtps, "approximate-float", "approximate reciprocal square root: results differ between vendors (Intel SDM Vol. 2B, RSQRTPS)"),
    (Mnemonic::Rsqrtss, "approximate-float", "approximate reciprocal square root: results differ between vendors (Intel SDM Vol. 2B, RSQRTSS)"),
    (Mnemonic::Vrcpps, "approximate-float", "approximate reciprocal (Intel SDM Vol. 2B, RCPPS)"),
    (Mnemonic::Vrcpss, "approximate-float", "approximate reciprocal (Intel SDM Vol. 2B, RCPSS)"),
    (Mnemonic::Vrsqrtps, "approximate-float", "approximate reciprocal square root (Intel SDM Vol. 2B, RSQRTPS)"),
    (Mnemonic::Vrsqrtss, "approximate-float", "approximate reciprocal square root (Intel SDM Vol. 2B, RSQRTSS)"),
    (Mnemonic::Emms, "mmx", "MMX state: the MMX registers are reserved for the runtime (gas counter)"),
    (Mnemonic::Femms, "mmx", "3DNow!/MMX state (AMD only)"),
    (Mnemonic::Fxsave, "fpu-state", "saves the whole FPU state, including runtime-reserved MMX registers (Intel SDM Vol. 2A, FXSAVE)"),
    (Mnemonic::Fxsave64, "fpu-state", "saves the whole FPU state (Intel SDM Vol. 2A, FXSAVE)"),
    (Mnemonic::Fxrstor, "fpu-state", "restores the whole FPU state, including MXCSR and MMX registers (Intel SDM Vol. 2A, FXRSTOR)"),
    (Mnemonic::Fxrstor64, "fpu-state", "restores the whole FPU state (Intel SDM Vol. 2A, FXRSTOR)"),
    (Mnemonic::Xsave, "fpu-state", "XSAVE: layout and components depend on the CPU (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsave64, "fpu-state", "XSAVE: layout and components depend on the CPU (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsavec, "fpu-state", "XSAVEC: CPU-dependent layout (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsavec64, "fpu-state", "XSAVEC: CPU-dependent layout (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsaveopt, "fpu-state", "XSAVEOPT: CPU-dependent layout and optimisation (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsaveopt64, "fpu-state", "XSAVEOPT: CPU-dependent (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsaves, "fpu-state", "XSAVES: privileged components (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xsaves64, "fpu-state", "XSAVES: privileged components (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xrstor, "fpu-state", "XRSTOR: CPU-dependent layout (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xrstor64, "fpu-state", "XRSTOR: CPU-dependent layout (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xrstors, "fpu-state", "XRSTORS: privileged components (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Xrstors64, "fpu-state", "XRSTORS: privileged components (Intel SDM Vol. 1, 13)"),
    (Mnemonic::Ldmxcsr, "fpu-state", "changes MXCSR (rounding, denormals-are-zero, flush-to-zero): float results would depend on it (Intel SDM Vol. 2A, LDMXCSR)"),
    (Mnemonic::Vldmxcsr, "fpu-state", "changes MXCSR (Intel SDM Vol. 2A, LDMXCSR)"),
    (Mnemonic::Rdfsbase, "fsgsbase", "reads the FS base, reserved for the runtime (Intel SDM Vol. 2B, RDFSBASE)"),
    (Mnemonic::Rdgsbase, "fsgsbase", "reads the GS base, reserved for the runtime (Intel SDM Vol. 2B, RDGSBASE)"),
    (Mnemonic::Wrfsbase, "fsgsbase", "writes the FS base, reserved for the runtime (Intel SDM Vol. 2C, WRFSBASE)"),
    (Mnemonic::Wrgsbase, "fsgsbase", "writes the GS base, reserved for the runtime (Intel SDM Vol. 2C, WRGSBASE)"),
    (Mnemonic::Swapgs, "fsgsbase", "swaps the GS base: privileged (Intel SDM Vol. 2B, SWAPGS)"),
    (Mnemonic::Lfs, "segment-write", "loads FS, reserved for the runtime (Intel SDM Vol. 2A, LFS)"),
    (Mnemonic::Lgs, "segment-write", "loads GS, reserved for the runtime (Intel SDM Vol. 2A, LGS)"),
    (Mnemonic::Lss, "segment-write", "loads SS (Intel SDM Vol. 2A, LSS)"),
    (Mnemonic::Hlt, "privileged", "privileged (Intel SDM Vol. 2A, HLT)"),
    (Mnemonic::Cli, "privileged", "changes the interrupt flag: privileged (Intel SDM Vol. 2A, CLI)"),
    (Mnemonic::Sti, "privileged", "changes the interrupt flag: privileged (Intel SDM Vol. 2B, STI)"),
    (Mnemonic::Clts, "privileged", "privileged (Intel SDM Vol. 2A, CLTS)"),
    (Mnemonic::Invd, "privileged", "privileged (Intel SDM Vol. 2A, INVD)"),
    (Mnemonic::Wbinvd, "privileged", "privileged (Intel SDM Vol. 2C, WBINVD)"),
    (Mnemonic::Invlpg, "privileged", "privileged (Intel SDM Vol. 2A, INVLPG)"),
    (Mnemonic::Rdmsr, "privileged", "privileged (Intel SDM Vol. 2B, RDMSR)"),
    (Mnemonic::Wrmsr, "privileged", "privileged (Intel SDM Vol. 2C, WRMSR)"),
    (Mnemonic::Lgdt, "privileged", "privileged (Intel SDM Vol. 2A, LGDT)"),
    (Mnemonic::Lidt, "privileged", "privileged (Intel SDM Vol. 2A, LIDT)"),
    (Mnemonic::Lldt, "privileged", "privileged (Intel SDM Vol. 2A, LLDT)"),
    (Mnemonic::Ltr, "privileged", "privileged (Intel SDM Vol. 2A, LTR)"),
    (Mnemonic::Lmsw, "privileged", "privileged (Intel SDM Vol. 2A, LMSW)"),
    (Mnemonic::In, "io", "port I/O (Intel SDM Vol. 2A, IN)"),
    (Mnemonic::Insb, "io", "port I/O (Intel SDM Vol. 2A, INS)"),
    (Mnemonic::Insw, "io", "port I/O (Intel SDM Vol. 2A, INS)"),
    (Mnemonic::Insd, "io", "port I/O (Intel SDM Vol. 2A, INS)"),
    (Mnemonic::Out, "io", "port I/O (Intel SDM Vol. 2B, OUT)"),
    (Mnemonic::Outsb, "io", "port I/O (Intel SDM Vol. 2B, OUTS)"),
    (Mnemonic::Outsw, "io", "port I/O (Intel SDM Vol. 2B, OUTS)"),
    (Mnemonic::Outsd, "io", "port I/O (Intel SDM Vol. 2B, OUTS)"),
    (Mnemonic::Ud0, "vendor-dependent-encoding", "UD0 has a ModRM byte on Intel but not on AMD: instruction lengths differ (Intel SDM Vol. 2B, UD)"),
    (Mnemonic::Ud1, "invalid", "UD1: use UD2 to trap (Intel SDM Vol. 2B, UD)"),
    (Mnemonic::Wait, "x87", "x87 FWAIT (Intel SDM Vol. 2C, WAIT/FWAIT)"),
    (Mnemonic::Maskmovdqu, "undefined-result", "with an all-zero mask nothing is stored, but whether the address still faults is implementation dependent, so one validator may trap where another does not (Intel SDM Vol. 2B, MASKMOVDQU: page faults \"may still be signaled (implementation dependent)\")"),
    (Mnemonic::Vmaskmovdqu, "undefined-result", "with an all-zero mask, whether the address faults is implementation dependent (Intel SDM Vol. 2B, MASKMOVDQU)"),
    (Mnemonic::Movnti, "non-temporal", "non-temporal store: bypasses the caches, so a loop of them runs at DRAM write latency (about 140 ns each here, 300 ns with SFENCE: benches/gas_per_ns.rs), far slower per gas than any priced instruction; compilers emit it only for explicit intrinsics (Intel SDM Vol. 2B, MOVNTI)"),
    (Mnemonic::Movntdq, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTDQ): as MOVNTI"),
    (Mnemonic::Movntps, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTPS): as MOVNTI"),
    (Mnemonic::Movntpd, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTPD): as MOVNTI"),
    (Mnemonic::Vmovntdq, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTDQ): as MOVNTI"),
    (Mnemonic::Vmovntps, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTPS): as MOVNTI"),
    (Mnemonic::Vmovntpd, "non-temporal", "non-temporal store (Intel SDM Vol. 2B, MOVNTPD): as MOVNTI"),
    (Mnemonic::Retf, "far-transfer", "far return changes CS (Intel SDM Vol. 2B, RET)"),
];

/// A refused instruction: reason class and message.
pub struct Refusal {
    /// Machine-readable class.
    pub class: &'static str,
    /// Message with the source.
    pub message: String,
}

fn refuse(class: &'static str, message: impl Into<String>) -> Option<Refusal> {
    Some(Refusal {
        class,
        message: message.into(),
    })
}

fn has_register(instr: &Instruction, pred: impl Fn(Register) -> bool) -> bool {
    (0..instr.op_count())
        .any(|i| instr.op_kind(i) == OpKind::Register && pred(instr.op_register(i)))
}

/// Bit sets of CPUID features (indexed by `CpuidFeature as usize`).
type FeatureSet = [u64; 4];

fn feature_set(features: &[CpuidFeature]) -> FeatureSet {
    let mut set = [0u64; 4];
    for &f in features {
        let i = f as usize;
        set[(i / 64) % 4] |= 1 << (i % 64);
    }
    set
}

/// Lookup tables built once from [`DENIED`], [`BASELINE_FEATURES`] and
/// [`AVX2_FEATURES`], so that checking an ordinary instruction costs a few
/// table reads instead of scans of the lists.
struct Tables {
    /// `denied[mnemonic as usize]` is 1 + the index in [`DENIED`], or 0.
    denied: Vec<u16>,
    /// Features allowed by default.
    baseline: FeatureSet,
    /// Features allowed with AVX2 admitted.
    with_avx2: FeatureSet,
}

fn tables() -> &'static Tables {
    static TABLES: std::sync::OnceLock<Tables> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let size = DENIED
            .iter()
            .map(|(m, _, _)| *m as usize)
            .max()
            .unwrap_or(0)
            + 1;
        let mut denied = vec![0u16; size];
        for (i, (m, _, _)) in DENIED.iter().enumerate() {
            denied[*m as usize] = i as u16 + 1;
        }
        let baseline = feature_set(BASELINE_FEATURES);
        let avx2 = feature_set(AVX2_FEATURES);
        let with_avx2 = std::array::from_fn(|i| baseline[i] | avx2[i]);
        Tables {
            denied,
            baseline,
            with_avx2,
        }
    })
}

/// Checks one decoded instruction against the allow-list. `None` means
/// allowed.
///
/// The common case (no denied mnemonic, only allowed features, no
/// x87/MMX/segment/control register operand, no FS/GS prefix, no far
/// transfer or interrupt) is decided by table lookups; anything else takes
/// the detailed path that names the reason.
pub fn check(instr: &Instruction, allow_avx2: bool) -> Option<Refusal> {
    let t = tables();
    let mnemonic = instr.mnemonic();
    if let Some(&d) = t.denied.get(mnemonic as usize).filter(|d| **d != 0) {
        let (_, class, reason) = DENIED[usize::from(d) - 1];
        return refuse(class, reason);
    }
    let allowed = if allow_avx2 {
        &t.with_avx2
    } else {
        &t.baseline
    };
    let features = feature_set(instr.cpuid_features());
    let features_ok = (0..4).all(|i| features[i] & !allowed[i] == 0);
    let special_register = (0..instr.op_count()).any(|i| {
        instr.op_kind(i) == OpKind::Register && {
            let r = instr.op_register(i);
            r.is_st() || r.is_mm() || r.is_segment_register() || r.is_cr() || r.is_dr() || r.is_tr()
        }
    });
    let segment = instr.segment_prefix();
    let interrupt = instr.flow_control() == FlowControl::Interrupt && mnemonic != Mnemonic::Int3;
    let far = instr.is_call_far()
        || instr.is_jmp_far()
        || instr.is_call_far_indirect()
        || instr.is_jmp_far_indirect();
    if features_ok
        && !special_register
        && segment != Register::FS
        && segment != Register::GS
        && !interrupt
        && !far
    {
        return undefined_result(instr);
    }
    detailed_check(instr, allow_avx2)
}

/// The operand rule for value-undefined results (class `undefined-result`,
/// see "Value-undefined results" in the module docs): an instruction form
/// whose destination the Intel SDM or the AMD APM leaves undefined for the
/// operands it has, or may have. `None` when the result is defined.
///
/// * 16-bit `SHLD`/`SHRD` with an immediate count whose 5-bit masked value
///   is above 16, or with a CL count (which may be);
/// * `BSWAP` of a 16-bit register.
pub fn undefined_result(instr: &Instruction) -> Option<Refusal> {
    match instr.code() {
        Code::Shld_rm16_r16_imm8 | Code::Shrd_rm16_r16_imm8 => {
            let count = instr.immediate8() & 0x1f;
            if count <= 16 {
                return None;
            }
            refuse(
                "undefined-result",
                format!(
                    "16-bit double shift by {count} (the immediate masked to 5 bits): the count is greater than the operand size, so the destination is undefined and Intel and AMD CPUs compute different values (Intel SDM Vol. 2B, SHLD/SHRD: \"If the count is greater than the operand size, the result is undefined\"; AMD APM Vol. 3, SHLD/SHRD); use a count of at most 16, or a 32-bit shift"
                ),
            )
        }
        Code::Shld_rm16_r16_CL | Code::Shrd_rm16_r16_CL => refuse(
            "undefined-result",
            "16-bit double shift by CL: CL masked to 5 bits may exceed 16, the operand size, and then the destination is undefined and Intel and AMD CPUs compute different values (Intel SDM Vol. 2B, SHLD/SHRD: \"If the count is greater than the operand size, the result is undefined\"; AMD APM Vol. 3, SHLD/SHRD); use an immediate count of at most 16, or a 32-bit shift",
        ),
        Code::Bswap_r16 => refuse(
            "undefined-result",
            "BSWAP of a 16-bit register: the result is undefined (Intel SDM Vol. 2A, BSWAP: \"When the BSWAP instruction references a 16-bit register, the result is undefined\"; AMD APM Vol. 3, BSWAP); use `rol r16, 8`",
        ),
        _ => None,
    }
}

/// The slow path of [`check`]: finds and names the reason.
fn detailed_check(instr: &Instruction, allow_avx2: bool) -> Option<Refusal> {
    let mnemonic = instr.mnemonic();
    if instr.is_call_far()
        || instr.is_jmp_far()
        || instr.is_call_far_indirect()
        || instr.is_jmp_far_indirect()
    {
        return refuse(
            "far-transfer",
            "far call or jump changes CS (Intel SDM Vol. 2A, CALL/JMP)",
        );
    }
    let features = instr.cpuid_features();
    if features.iter().any(|f| {
        matches!(
            f,
            CpuidFeature::FPU | CpuidFeature::FPU287 | CpuidFeature::FPU387
        )
    }) || has_register(instr, Register::is_st)
    {
        return refuse(
            "x87",
            "x87 floating point: 80-bit intermediate precision and state carried between calls (Intel SDM Vol. 1, 8)",
        );
    }
    if has_register(instr, Register::is_mm)
        || features.iter().any(|f| {
            matches!(
                f,
                CpuidFeature::MMX | CpuidFeature::D3NOW | CpuidFeature::D3NOWEXT
            )
        })
    {
        return refuse(
            "mmx",
            "MMX register operand: MMX registers are reserved for the runtime's gas counter",
        );
    }
    let segment = instr.segment_prefix();
    if segment == Register::FS || segment == Register::GS {
        return refuse(
            "segment-override",
            format!("{segment:?} segment override: FS and GS are reserved for the runtime"),
        );
    }
    if matches!(mnemonic, Mnemonic::Mov | Mnemonic::Pop)
        && instr.op_count() > 0
        && instr.op0_kind() == OpKind::Register
        && instr.op0_register().is_segment_register()
    {
        return refuse(
            "segment-write",
            "writes a segment register (Intel SDM Vol. 2A, MOV/POP Sreg)",
        );
    }
    if has_register(instr, |r| r.is_cr() || r.is_dr() || r.is_tr()) {
        return refuse(
            "privileged",
            "control, debug or test register access is privileged (Intel SDM Vol. 2A, MOV CR/DR)",
        );
    }
    let allowed = |f: &CpuidFeature| {
        BASELINE_FEATURES.contains(f) || (allow_avx2 && AVX2_FEATURES.contains(f))
    };
    if let Some(f) = features.iter().find(|f| !allowed(f)) {
        let hint = if AVX2_FEATURES.contains(f) {
            " (AVX/AVX2 are off by default; see Config::allow_avx2)"
        } else {
            ""
        };
        return refuse(
            "not-allowed",
            format!(
                "uses CPU feature {f:?}, which is not in the Deterministic AMD64 allow-list{hint}"
            ),
        );
    }
    if instr.flow_control() == FlowControl::Interrupt && mnemonic != Mnemonic::Int3 {
        return refuse("system-call", "interrupt instruction");
    }
    undefined_result(instr)
}
