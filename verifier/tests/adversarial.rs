//! The adversarial corpus: hand-written contracts (assembly, raw `.byte`
//! sequences, and C with inline assembly or compiler options that produce
//! forbidden code), each built with gcc at test time and each rejected for
//! the right reason, plus negative controls that must verify.
//!
//! Every case names the exact set of `(rule, class)` pairs its report must
//! contain (no more, no fewer) and a fragment of the disassembly the
//! offending violation must show, so a case cannot pass by being rejected
//! for some unrelated reason. ELF-level cases (headers, segments, sizes)
//! are in `elf_structure.rs`; compiler output that must verify is in
//! `compiler_output.rs`; cases the verifier gets wrong today are in
//! `verifier_bugs.rs`.

mod common;

use common::{asm_method, check, classes, gcc_source, work_dir};
use nativm_verifier::{Config, Rule};

use Rule::{
    AllowList as A, CompleteDecoding as D, ControlFlow as C, ElfStructure as E, UndefinedFlags as F,
};

/// Where a case's source comes from.
#[derive(Clone, Copy)]
enum Src {
    /// The body of method `m` (Intel syntax), followed by `ret`.
    Body(&'static str),
    /// A whole assembly file (Intel syntax after the prelude).
    Asm(&'static str),
    /// A whole C file, built at -O2 with the case's flags.
    C(&'static str),
}

struct Case {
    name: &'static str,
    src: Src,
    /// Extra gcc flags.
    flags: &'static [&'static str],
    /// The exact (rule, class) pairs of the report; empty: must verify.
    expect: &'static [(Rule, &'static str)],
    /// Lower-case fragment of the disassembly of a violation of the first
    /// expected (rule, class); empty for none.
    shows: &'static str,
}

const fn body(
    name: &'static str,
    src: &'static str,
    expect: &'static [(Rule, &'static str)],
    shows: &'static str,
) -> Case {
    Case {
        name,
        src: Src::Body(src),
        flags: &[],
        expect,
        shows,
    }
}

const fn file(
    name: &'static str,
    src: &'static str,
    expect: &'static [(Rule, &'static str)],
    shows: &'static str,
) -> Case {
    Case {
        name,
        src: Src::Asm(src),
        flags: &[],
        expect,
        shows,
    }
}

const fn c(
    name: &'static str,
    src: &'static str,
    flags: &'static [&'static str],
    expect: &'static [(Rule, &'static str)],
    shows: &'static str,
) -> Case {
    Case {
        name,
        src: Src::C(src),
        flags,
        expect,
        shows,
    }
}

const OK: &[(Rule, &str)] = &[];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- Rule 3: time, randomness, CPU identity -------------------------
    body("rdtsc", "rdtsc", &[(A, "time")], "rdtsc"),
    body("rdtscp", "rdtscp", &[(A, "time")], "rdtscp"),
    body("rdpid", "rdpid rax", &[(A, "time")], "rdpid"),
    body("rdpmc", "xor ecx, ecx\n rdpmc", &[(A, "time")], "rdpmc"),
    body("rdpru", "rdpru", &[(A, "time")], "rdpru"),
    body("rdrand", "rdrand rax", &[(A, "randomness")], "rdrand"),
    body("rdseed", "rdseed rax", &[(A, "randomness")], "rdseed"),
    body("cpuid", "xor eax, eax\n cpuid", &[(A, "cpu-identity")], "cpuid"),
    body("xgetbv", "xor ecx, ecx\n xgetbv", &[(A, "cpu-identity")], "xgetbv"),
    body("rdpkru", "xor ecx, ecx\n rdpkru", &[(A, "pkru")], "rdpkru"),
    body("wrpkru", "xor ecx, ecx\n xor edx, edx\n wrpkru", &[(A, "pkru")], "wrpkru"),
    // ---- descriptor tables ----------------------------------------------
    body("sgdt", "sgdt [rdi]", &[(A, "descriptor-table")], "sgdt"),
    body("sidt", "sidt [rdi]", &[(A, "descriptor-table")], "sidt"),
    body("sldt", "sldt eax", &[(A, "descriptor-table")], "sldt"),
    body("smsw", "smsw eax", &[(A, "descriptor-table")], "smsw"),
    body("str", "str eax", &[(A, "descriptor-table")], "str"),
    body("lsl", "lsl eax, ecx", &[(A, "descriptor-table")], "lsl"),
    body("verw", "verw cx", &[(A, "descriptor-table")], "verw"),
    // ---- system calls and interrupts --------------------------------------
    body("syscall", "syscall", &[(A, "system-call")], "syscall"),
    body("sysenter", "sysenter", &[(A, "system-call")], "sysenter"),
    body("int-n", "int 0x80", &[(A, "system-call")], "int 80h"),
    body("int1", ".byte 0xf1", &[(A, "system-call")], "int1"),
    // INTO (CE) does not exist in 64-bit mode: it does not even decode.
    body("into", ".byte 0xce\n nop\n nop", &[(D, "invalid-encoding")], "(bad)"),
    // ---- TSX, waits, SGX, PT ----------------------------------------------
    body("xbegin", "xbegin 1f\n1:", &[(A, "tsx")], "xbegin"),
    body("xend-xabort-xtest", "xtest\n xabort 1\n xend", &[(A, "tsx")], "xtest"),
    body("umonitor", "umonitor rax", &[(A, "wait")], "umonitor"),
    body("umwait", "umwait eax", &[(A, "wait")], "umwait"),
    body("tpause", "tpause eax", &[(A, "wait")], "tpause"),
    body("monitor-mwait", "monitor\n mwait", &[(A, "wait")], "monitor"),
    body("enclu", "enclu", &[(A, "sgx")], "enclu"),
    body("ptwrite", "ptwrite rax", &[(A, "ptwrite")], "ptwrite"),
    // ---- approximate floating point -----------------------------------------
    body("rcpps", "rcpps xmm0, xmm1", &[(A, "approximate-float")], "rcpps"),
    body("rcpss", "rcpss xmm0, xmm1", &[(A, "approximate-float")], "rcpss"),
    body("rsqrtps", "rsqrtps xmm0, xmm1", &[(A, "approximate-float")], "rsqrtps"),
    body("rsqrtss", "rsqrtss xmm0, [rdi]", &[(A, "approximate-float")], "rsqrtss"),
    c("fast-math-mrecip", "void m(float *a, const float *b) { for (int i = 0; i < 64; i++) a[i] = 1.0f / b[i]; }",
      &["-O3", "-ffast-math", "-mrecip=all"], &[(A, "approximate-float")], "rcpps"),
    // ---- non-temporal stores (cost model, issue 16) ----------------------------
    body("movnti", "movnti qword ptr [rdi], rax", &[(A, "non-temporal")], "movnti"),
    body("movntdq", "movntdq xmmword ptr [rdi], xmm0", &[(A, "non-temporal")], "movntdq"),
    body("movntps", "movntps xmmword ptr [rdi], xmm0", &[(A, "non-temporal")], "movntps"),
    body("movntpd", "movntpd xmmword ptr [rdi], xmm0", &[(A, "non-temporal")], "movntpd"),
    // ---- x87 ---------------------------------------------------------------
    body("x87-fld1", "fld1\n fstp qword ptr [rdi]", &[(A, "x87")], "fld1"),
    body("x87-fninit", "fninit", &[(A, "x87")], "fninit"),
    body("x87-fwait", "fwait", &[(A, "x87")], "wait"),
    body("x87-fnstsw", "fnstsw ax", &[(A, "x87")], "fnstsw"),
    body("x87-fcomi", "fcomi st, st(1)", &[(A, "x87")], "fcomi"),
    c("long-double", "long double k = 3; long m(long x) { long double y = x; return (long)(y * k); }",
      &["-O2"], &[(A, "x87")], "fild"),
    // ---- MMX, including SSE-encoded forms with an MMX operand ---------------
    body("mmx-movq", "movq mm0, rax", &[(A, "mmx")], "mm0"),
    body("mmx-paddb", "paddb mm0, mm1", &[(A, "mmx")], "paddb"),
    body("mmx-emms", "emms", &[(A, "mmx")], "emms"),
    body("mmx-cvtpi2ps", "cvtpi2ps xmm0, mm0", &[(A, "mmx")], "cvtpi2ps"),
    body("mmx-cvtps2pi", "cvtps2pi mm0, xmm0", &[(A, "mmx")], "cvtps2pi"),
    body("mmx-cvttps2pi", "cvttps2pi mm0, xmm0", &[(A, "mmx")], "cvttps2pi"),
    body("mmx-cvtpi2pd", "cvtpi2pd xmm0, mm0", &[(A, "mmx")], "cvtpi2pd"),
    body("mmx-movq2dq", "movq2dq xmm0, mm0", &[(A, "mmx")], "movq2dq"),
    body("mmx-movdq2q", "movdq2q mm0, xmm0", &[(A, "mmx")], "movdq2q"),
    body("mmx-pshufw", "pshufw mm0, mm1, 0x1b", &[(A, "mmx")], "pshufw"),
    body("mmx-pmuludq", "pmuludq mm0, mm1", &[(A, "mmx")], "pmuludq mm0"),
    body("mmx-pavgb", "pavgb mm0, [rdi]", &[(A, "mmx")], "pavgb"),
    body("mmx-maskmovq", "maskmovq mm0, mm1", &[(A, "mmx")], "maskmovq"),
    body("mmx-movntq", "movntq [rdi], mm0", &[(A, "mmx")], "movntq"),
    c("mmx-intrinsics", "#include <mmintrin.h>\n__m64 m(__m64 a, __m64 b) { __m64 r = _mm_add_pi8(a, b); _mm_empty(); return r; }",
      &["-O2", "-mmmx"], &[(A, "mmx")], "emms"),
    // ---- FPU state ------------------------------------------------------------
    body("fxsave", "fxsave [rdi]", &[(A, "fpu-state")], "fxsave"),
    body("fxrstor", "fxrstor [rdi]", &[(A, "fpu-state")], "fxrstor"),
    body("fxsave64", "fxsave64 [rdi]", &[(A, "fpu-state")], "fxsave64"),
    body("xsave", "xsave [rdi]", &[(A, "fpu-state")], "xsave"),
    body("xsavec", "xsavec [rdi]", &[(A, "fpu-state")], "xsavec"),
    body("xsaveopt", "xsaveopt [rdi]", &[(A, "fpu-state")], "xsaveopt"),
    body("xrstor", "xrstor [rdi]", &[(A, "fpu-state")], "xrstor"),
    body("xrstors", "xrstors [rdi]", &[(A, "fpu-state")], "xrstors"),
    body("ldmxcsr", "ldmxcsr [rdi]", &[(A, "fpu-state")], "ldmxcsr"),
    body("vldmxcsr", "vldmxcsr [rdi]", &[(A, "fpu-state")], "vldmxcsr"),
    // ---- segments -------------------------------------------------------------
    body("mov-ds", "mov ds, ax", &[(A, "segment-write")], "mov ds"),
    body("mov-ss", "mov ss, ax", &[(A, "segment-write")], "mov ss"),
    body("mov-fs", "mov fs, ax", &[(A, "segment-write")], "mov fs"),
    body("pop-gs", "pop gs", &[(A, "segment-write")], "pop gs"),
    body("lfs", "lfs eax, [rdi]", &[(A, "segment-write")], "lfs"),
    body("lss", "lss eax, [rdi]", &[(A, "segment-write")], "lss"),
    body("fs-load", "mov rax, qword ptr fs:[0]", &[(A, "segment-override")], "fs:"),
    body("gs-load", "mov rax, qword ptr gs:[rbx]", &[(A, "segment-override")], "gs:"),
    body("fs-movsb", ".byte 0x64, 0xa4", &[(A, "segment-override")], "movsb"),
    body("gs-xlat", ".byte 0x65, 0xd7", &[(A, "segment-override")], "xlat"),
    c("tls", "__thread long t; long m(long x) { t += x; return t; }",
      &["-O2"], &[(A, "segment-override"), (E, "tls")], "fs:"),
    body("rdfsbase", "rdfsbase rax", &[(A, "fsgsbase")], "rdfsbase"),
    body("rdgsbase", "rdgsbase rax", &[(A, "fsgsbase")], "rdgsbase"),
    body("wrfsbase", "wrfsbase rax", &[(A, "fsgsbase")], "wrfsbase"),
    body("wrgsbase", "wrgsbase rax", &[(A, "fsgsbase")], "wrgsbase"),
    body("swapgs", "swapgs", &[(A, "fsgsbase")], "swapgs"),
    // ---- privileged, I/O, far transfers -----------------------------------------
    body("hlt", "hlt", &[(A, "privileged")], "hlt"),
    body("cli-sti", "cli\n sti", &[(A, "privileged")], "cli"),
    body("mov-cr0", "mov cr0, rax", &[(A, "privileged")], "cr0"),
    body("read-cr3", "mov rax, cr3", &[(A, "privileged")], "cr3"),
    body("mov-dr7", "mov dr7, rax", &[(A, "privileged")], "dr7"),
    body("wrmsr", "wrmsr", &[(A, "privileged")], "wrmsr"),
    body("rdmsr", "rdmsr", &[(A, "privileged")], "rdmsr"),
    body("lgdt", "lgdt [rdi]", &[(A, "privileged")], "lgdt"),
    body("invlpg", "invlpg [rdi]", &[(A, "privileged")], "invlpg"),
    body("wbinvd", "wbinvd", &[(A, "privileged")], "wbinvd"),
    body("xsetbv", "xsetbv", &[(A, "privileged")], "xsetbv"),
    body("iretq", "iretq", &[(A, "privileged")], "iretq"),
    body("in-dx", "in al, dx", &[(A, "io")], "in al,dx"),
    body("out-imm", "out 0x80, al", &[(A, "io")], "out"),
    body("insb-outsb", "insb\n outsb", &[(A, "io")], "insb"),
    body("retf", ".byte 0x48, 0xcb", &[(A, "far-transfer")], "ret far"),
    body("jmp-far", "jmp fword ptr [rdi]", &[(A, "far-transfer")], "jmp"),
    body("call-far", "call fword ptr [rdi]", &[(A, "far-transfer")], "call"),
    // ---- features outside the baseline ----------------------------------------------
    body("avx-ymm", "vaddps ymm0, ymm1, ymm2", &[(A, "not-allowed")], "vaddps"),
    body("avx-vex128", "vpaddd xmm0, xmm1, xmm2", &[(A, "not-allowed")], "vpaddd"),
    body("vzeroupper", "vzeroupper", &[(A, "not-allowed")], "vzeroupper"),
    body("fma", "vfmadd231ps xmm0, xmm1, xmm2", &[(A, "not-allowed")], "vfmadd231ps"),
    body("avx512", "vpaddd zmm0, zmm1, zmm2", &[(A, "not-allowed")], "zmm0"),
    body("aes", "aesenc xmm0, xmm1", &[(A, "not-allowed")], "aesenc"),
    body("pclmul", "pclmulqdq xmm0, xmm1, 0", &[(A, "not-allowed")], "pclmul"),
    body("sha", "sha256msg1 xmm0, xmm1", &[(A, "not-allowed")], "sha256msg1"),
    body("clflush", "clflush [rdi]", &[(A, "not-allowed")], "clflush"),
    body("movdiri", "movdiri [rdi], eax", &[(A, "not-allowed")], "movdiri"),
    body("cet-shadow-stack", "rdsspq rax", &[(A, "not-allowed")], "rdssp"),
    body("vmcall", "vmcall", &[(A, "not-allowed")], "vmcall"),
    body("stac", "stac", &[(A, "not-allowed")], "stac"),
    c("avx2-vectorised", "void m(int *a, const int *b) { for (int i = 0; i < 1024; i++) a[i] += b[i] * 3; }",
      &["-O3", "-mavx2"], &[(A, "not-allowed")], "ymm"),
    // ---- vendor-dependent and invalid encodings ---------------------------------------
    body("ud0", ".byte 0x0f, 0xff, 0x00", &[(A, "vendor-dependent-encoding")], "ud0"),
    body("ud1", ".byte 0x0f, 0xb9, 0x00", &[(A, "invalid")], "ud1"),
    body("ret-66", ".byte 0x66, 0xc3", &[(D, "vendor-dependent-encoding")], "ret"),
    body("call-66", ".byte 0x66, 0xe8, 0, 0, 0, 0", &[(D, "vendor-dependent-encoding")], "call"),
    body("jz-66", "test edi, edi\n .byte 0x66, 0x0f, 0x84, 0, 0, 0, 0", &[(D, "vendor-dependent-encoding")], "je"),
    body("push-es", ".byte 0x06\n nop", &[(D, "invalid-encoding")], "(bad)"),
    body("lock-nop", ".byte 0xf0, 0x90", &[(D, "invalid-encoding")], "(bad)"),
    body("sixteen-byte-instruction",
         ".byte 0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x90",
         &[(D, "invalid-encoding")], "(bad)"),
    file("truncated-instruction",
         ".text\n.globl m\n.type m,@function\nm:\n ret\n .byte 0x48, 0xb8, 1, 2, 3\n",
         &[(D, "truncated-instruction")], "(bad)"),
    // ---- value-undefined results (see `sixteen_bit_double_shifts`) ------------
    body("shld16-imm17", "shld ax, bx, 17", &[(A, "undefined-result")], "shld ax,bx,11h"),
    body("shrd16-mem-imm31", "shrd word ptr [rdi], bx, 31", &[(A, "undefined-result")], "shrd"),
    body("shld16-cl", "shld ax, bx, cl", &[(A, "undefined-result")], "shld ax,bx,cl"),
    body("shrd16-mem-cl", "shrd word ptr [rdi], bx, cl", &[(A, "undefined-result")], "shrd"),
    body("bswap-r16", ".byte 0x66, 0x0f, 0xc8", &[(A, "undefined-result")], "bswap ax"),
    body("bswap-r16-rex", ".byte 0x66, 0x41, 0x0f, 0xc9", &[(A, "undefined-result")], "bswap r9w"),
    body("maskmovdqu", "maskmovdqu xmm0, xmm1", &[(A, "undefined-result")], "maskmovdqu"),
    // ---- Rule 5: control flow ------------------------------------------------
    // jmp +1 lands on the immediate of `mov eax, 0x90c3310f`: `rdtsc; ret`.
    body("jump-into-immediate-rdtsc", ".byte 0xeb, 0x01\n .byte 0xb8, 0x0f, 0x31, 0xc3, 0x90",
         &[(C, "branch-into-instruction")], "jmp"),
    // jz lands on the immediate of a movabs that hides `syscall; ret`.
    body("jcc-into-immediate-syscall",
         "test rdi, rdi\n .byte 0x74, 0x02\n .byte 0x48, 0xb8, 0x0f, 0x05, 0xc3, 0, 0, 0, 0, 0",
         &[(C, "branch-into-instruction")], "je"),
    // call +1 lands on the immediate of `mov eax, imm32` hiding `cpuid; ret`.
    body("call-into-immediate-cpuid", ".byte 0xe8, 0x01, 0, 0, 0\n .byte 0xb8, 0x0f, 0xa2, 0xc3, 0x90",
         &[(C, "branch-into-instruction")], "call"),
    body("jump-into-middle-label", "jmp 1f+1\n1: mov eax, 0x12345678", &[(C, "branch-into-instruction")], "jmp"),
    body("jump-outside-code", ".byte 0xe9\n .long 0x10000000", &[(C, "branch-outside-code")], "jmp"),
    file("call-into-data",
         ".data\nd: .quad 0xc3\n.text\n.globl m\n.type m,@function\nm:\n call d\n ret\n",
         &[(C, "branch-outside-code")], "call"),
    // The runtime page (0x200000..0x201000) may be entered by a direct
    // branch only as `call HOSTCALL_ENTRY` (see `runtime_page_branches`).
    body("jmp-hostcall-entry", ".set host, 0x200000\n jmp host", &[(C, "branch-into-runtime")], "jmp"),
    body("call-into-runtime-page", ".set gate, 0x200010\n call gate", &[(C, "branch-into-runtime")], "call"),
    body("call-runtime-page-last-byte", ".set gate, 0x200fff\n call gate", &[(C, "branch-into-runtime")], "call"),
    body("jcc-to-hostcall-entry", ".set host, 0x200000\n test edi, edi\n jz host", &[(C, "branch-into-runtime")], "je"),
    body("jcc-into-runtime-page", ".set gate, 0x200800\n test edi, edi\n jnz gate", &[(C, "branch-into-runtime")], "jne"),
    body("call-after-runtime-page", ".set info, 0x201000\n call info", &[(C, "branch-outside-code")], "call"),
    body("call-before-runtime-page", ".set shim, 0x1fffff\n call shim", &[(C, "branch-outside-code")], "call"),
    file("falls-off-end", ".text\n.globl m\n.type m,@function\nm:\n mov eax, 1\n nop\n",
         &[(C, "falls-off-end")], "nop"),
    file("ends-in-conditional-jump", ".text\n.globl m\n.type m,@function\nm:\n test edi, edi\n jz m\n",
         &[(C, "falls-off-end")], "je"),
    file("method-in-mid-instruction",
         ".text\n.globl m, m2\n.type m,@function\n.type m2,@function\nm:\n mov eax, 0xc3c3c3c3\n ret\n.set m2, m+1\n",
         &[(C, "method-not-instruction-start")], ""),
    file("method-in-data",
         ".text\n.globl m\n.type m,@function\nm:\n ret\n.data\n.globl evil\n.type evil,@function\nevil: .quad 0xc3\n",
         &[(E, "method-not-in-code")], ""),
    // ---- Rule 4: undefined flags -------------------------------------------------
    body("imul-js", "imul rax, rbx\n js 1f\n1:", &[(F, "undefined-flag-read")], "js"),
    body("mul-sete", "mul rbx\n sete al", &[(F, "undefined-flag-read")], "sete"),
    body("div-jc", "div rbx\n jc 1f\n1:", &[(F, "undefined-flag-read")], "jb"),
    body("bsf-branch-adc", "bsf rax, rdi\n jz 1f\n adc rax, 0\n1:", &[(F, "undefined-flag-read")], "adc"),
    body("bsf-jump-jc", "bsf rax, rdi\n jmp 2f\n ud2\n2: jc 3f\n3:", &[(F, "undefined-flag-read")], "jb"),
    body("bsr-rcl", "bsr rax, rbx\n rcl rdx, 1", &[(F, "undefined-flag-read")], "rcl"),
    body("loop-back-edge-shl", "xor eax, eax\n1: jo 2f\n shl rax, 3\n jmp 1b\n2:", &[(F, "undefined-flag-read")], "jo"),
    body("loop-carried-cf", "mov ecx, 10\n xor eax, eax\n1: adc rax, rdx\n bsf rdx, rax\n dec ecx\n jnz 1b",
         &[(F, "undefined-flag-read")], "adc"),
    body("sar-cl-cmovo", "sar rax, cl\n cmovo rax, rbx", &[(F, "undefined-flag-read")], "cmovo"),
    body("shld-imm-seto", "shld rax, rbx, 5\n seto al", &[(F, "undefined-flag-read")], "seto"),
    body("and-lahf", "and eax, ebx\n lahf", &[(F, "undefined-flag-read")], "lahf"),
    body("imul-pushfq", "imul rax, rbx\n pushfq\n pop rax", &[(F, "undefined-flag-read")], "pushfq"),
    body("bt-js", "bt rax, 3\n js 1f\n1:", &[(F, "undefined-flag-read")], "js"),
    body("tzcnt-jo", "tzcnt rax, rbx\n jo 1f\n1:", &[(F, "undefined-flag-read")], "jo"),
    body("andn-jp", "andn rax, rbx, rcx\n jp 1f\n1:", &[(F, "undefined-flag-read")], "jp"),
    // A flag read right after a call is not a violation: in the artifact
    // every return sets the arithmetic flags to a fixed value before it lands
    // (see `undefined_flags` in src/analysis.rs). An undefined flag *before*
    // the call still reaches the callee's entry:
    body("imul-then-call-reads", "imul rax, rbx\n call 1f\n jmp 2f\n1: js 2f\n ret\n2:", &[(F, "undefined-flag-read")], "js"),
    // ---- negative controls: must verify ---------------------------------------------
    body("ok-imul-test-js", "imul rax, rbx\n test rax, rax\n js 1f\n1:", OK, ""),
    body("ok-bsf-cmp-jc", "bsf rax, rdi\n jmp 2f\n ud2\n2: cmp rax, rsi\n jc 3f\n3:", OK, ""),
    body("ok-loop-redefined", "xor eax, eax\n1: cmp rax, rdi\n jo 2f\n shl rax, 3\n jmp 1b\n2:", OK, ""),
    body("ok-and-add-lahf", "and eax, ebx\n add eax, 0\n lahf", OK, ""),
    body("ok-dec-keeps-cf", "add rax, rbx\n dec rcx\n adc rax, 0", OK, ""),
    body("ok-shift-by-one", "shl rax, 1\n jo 1f\n1:", OK, ""),
    body("ok-after-call-jc", "call 1f\n jc 2f\n jmp 2f\n1: ret\n2:", OK, ""),
    body("ok-after-call-cmp", "call 1f\n cmp eax, 1\n jc 2f\n jmp 2f\n1: ret\n2:", OK, ""),
    body("ok-baseline-instructions",
         "stmxcsr [rdi]\n pmuludq xmm0, xmm1\n sqrtsd xmm0, xmm1\n cvtsi2sd xmm0, rax\n divps xmm2, xmm3\n\
          movq xmm0, rax\n pshufb xmm0, xmm1\n ptest xmm0, xmm1\n pcmpistri xmm0, xmm1, 0\n crc32 eax, ecx\n\
          popcnt rax, rbx\n lzcnt rax, rbx\n tzcnt rax, rbx\n andn rax, rbx, rcx\n shlx rax, rbx, rcx\n\
          pdep rax, rbx, rcx\n movbe eax, [rdi]\n lock cmpxchg16b [rdi]\n pause\n lfence\n mfence\n endbr64\n\
          rep movsb\n xlatb\n nop dword ptr [rax+rax]\n int3",
         OK, ""),
    body("ok-bswap-32-64", "bswap eax\n bswap rax\n bswap r9", OK, ""),
    body("ok-shld-shrd-16-imm16", "shld ax, bx, 16\n shrd word ptr [rdi], bx, 16\n shld ax, bx, 48", OK, ""),
    body("ok-call-hostcall-entry", ".set host, 0x200000\n xor edi, edi\n call host", OK, ""),
    body("ok-indirect-jump", "lea rax, [rip + 1f]\n jmp rax\n1:", OK, ""),
    c("ok-c-inline-asm-pause", "long m(long x) { for (int i = 0; i < 4; i++) __asm__ volatile(\"pause\"); return x * 3; }",
      &["-O2"], OK, ""),
];

fn build(case: &Case, dir: &std::path::Path) -> Result<Vec<u8>, String> {
    match case.src {
        Src::Body(b) => gcc_source(dir, case.name, "s", &asm_method(b), case.flags),
        Src::Asm(a) => gcc_source(
            dir,
            case.name,
            "s",
            &format!(".intel_syntax noprefix\n{a}"),
            case.flags,
        ),
        Src::C(c) => gcc_source(dir, case.name, "c", c, case.flags),
    }
}

/// A violation the verifier adds today that the issue does not ask for:
/// iced-x86 gives SYSCALL, SYSENTER and VMCALL the flow control `Call`
/// with no near-branch target, so rule 5 also reports "direct branch target
/// 0x0 lies outside executable code". Ignored here (the instruction is still
/// rejected for the right reason); `verifier_bugs.rs` asserts the fix.
fn known_spurious(v: &nativm_verifier::Violation) -> bool {
    v.rule == C
        && v.class == "branch-outside-code"
        && v.message.starts_with("direct branch target 0x0 ")
        && ["syscall", "sysenter", "vmcall"].contains(&v.disassembly.as_str())
}

/// Checks one case; `Err` explains what is wrong.
fn run_case(case: &Case, dir: &std::path::Path) -> Result<(), String> {
    let bytes = build(case, dir)?;
    let report = check(&bytes);
    let mut want: Vec<(Rule, &str)> = case.expect.to_vec();
    want.sort();
    want.dedup();
    let mut report = report;
    report.violations.retain(|v| !known_spurious(v));
    let got = classes(&report);
    if got != want {
        return Err(format!(
            "{}: expected {want:?}, got {got:?}\n{}",
            case.name,
            report.to_text()
        ));
    }
    for &(rule, class) in case.expect {
        if !report.has(rule, class) {
            return Err(format!(
                "{}: report.has({rule:?}, {class:?}) is false",
                case.name
            ));
        }
    }
    if let (Some(&(rule, class)), false) = (case.expect.first(), case.shows.is_empty()) {
        let named = report.of_rule(rule).filter(|v| v.class == class).any(|v| {
            v.disassembly.to_lowercase().contains(case.shows)
                && v.address.is_some()
                && !v.bytes.is_empty()
                && v.symbol.as_deref().is_some_and(|s| s.starts_with('m'))
        });
        if !named {
            return Err(format!(
                "{}: no {}/{class} violation in `m` shows `{}` with its address and bytes\n{}",
                case.name,
                rule.as_str(),
                case.shows,
                report.to_text()
            ));
        }
    }
    if case.expect.is_empty() && report.methods.is_empty() {
        return Err(format!("{}: verified but found no method", case.name));
    }
    Ok(())
}

#[test]
fn every_adversarial_case_is_rejected_for_the_right_reason() {
    let dir = work_dir("adversarial");
    let rejected = CASES.iter().filter(|c| !c.expect.is_empty()).count();
    assert!(rejected >= 45, "only {rejected} adversarial cases");
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CASES.len(), "case names must be unique");

    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(16);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let dir = &dir;
                s.spawn(move || {
                    CASES
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(|case| run_case(case, dir).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("case thread panicked"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

/// One contract with many different violations: the report names every
/// one, each at its own address inside `m`, not just the first.
#[test]
fn report_names_every_violation_of_one_contract() {
    let dir = work_dir("adversarial");
    // Offsets inside `m`: rdtsc 0, cpuid 2, fld1 4, movq mm0,rax 6,
    // mov rax,fs:[0] 0xa, imul 0x13, js 0x17, jmp-into 0x19, mov 0x1b.
    let body = "rdtsc\n cpuid\n fld1\n movq mm0, rax\n mov rax, qword ptr fs:[0]\n\
                imul rax, rbx\n js 1f\n1: .byte 0xeb, 0x01\n .byte 0xb8, 0x0f, 0x05, 0xc3, 0x90";
    let bytes = common::asm(&dir, "kitchen-sink", body);
    let report = check(&bytes);
    let text = report.to_text();
    let expected: &[(Rule, &str, &str, &str)] = &[
        (A, "time", "m", "rdtsc"),
        (A, "cpu-identity", "m+0x2", "cpuid"),
        (A, "x87", "m+0x4", "fld1"),
        (A, "mmx", "m+0x6", "movq mm0,rax"),
        (A, "segment-override", "m+0xa", "fs:"),
        (F, "undefined-flag-read", "m+0x17", "js"),
        (C, "branch-into-instruction", "m+0x19", "jmp"),
    ];
    for &(rule, class, symbol, dis) in expected {
        let found = report.violations.iter().any(|v| {
            v.rule == rule
                && v.class == class
                && v.symbol.as_deref() == Some(symbol)
                && v.disassembly.contains(dis)
        });
        assert!(
            found,
            "missing {}/{class} at {symbol} (`{dis}`):\n{text}",
            rule.as_str()
        );
        assert!(
            text.contains(&format!("{}/{class}", rule.as_str())),
            "to_text lacks {class}:\n{text}"
        );
    }
    assert_eq!(
        report.violations.len(),
        expected.len(),
        "unexpected extra violations:\n{text}"
    );
    // Sorted by rule, then address; every code violation carries its bytes.
    let keys: Vec<_> = report
        .violations
        .iter()
        .map(|v| (v.rule, v.address))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(report
        .violations
        .iter()
        .all(|v| !v.bytes.is_empty() && v.section == ".text"));
    assert!(text.starts_with("rejected: 7 violations"), "{text}");
    let json = report.to_json();
    for (_, class, _, _) in expected {
        assert!(json.contains(&format!("\"class\":\"{class}\"")), "{json}");
    }
}

/// Indirect branches are allowed, and listed for the run-time check.
#[test]
fn indirect_branches_are_listed() {
    let dir = work_dir("adversarial");
    let bytes = common::asm(
        &dir,
        "indirect",
        "lea rax, [rip + 1f]\n call rax\n jmp qword ptr [rdi]\n1: ret",
    );
    let report = check(&bytes);
    assert!(report.is_ok(), "{}", report.to_text());
    let kinds: Vec<&str> = report.indirect_branches.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, ["call", "jmp"], "{}", report.to_text());
    assert_eq!(report.indirect_branches[0].symbol.as_deref(), Some("m+0x7"));
}

/// AVX and AVX2 are admitted only with `Config::allow_avx2`; FMA, AVX-512
/// and VEX forms of denied instructions stay rejected.
#[test]
fn avx2_only_when_configured() {
    let dir = work_dir("adversarial");
    let avx = common::asm(
        &dir,
        "avx-allowed",
        "vaddps ymm0, ymm1, ymm2\n vpaddd ymm0, ymm1, ymm2\n vzeroupper",
    );
    let cfg = Config {
        allow_avx2: true,
        ..Config::default()
    };
    assert!(!check(&avx).is_ok());
    let report = nativm_verifier::verify(&avx, &cfg);
    assert!(report.is_ok(), "{}", report.to_text());

    let still_bad = common::asm(
        &dir,
        "avx-still-denied",
        "vfmadd231ps ymm0, ymm1, ymm2\n vrcpps ymm0, ymm1\n vpaddd zmm0, zmm1, zmm2\n vldmxcsr [rdi]",
    );
    let report = nativm_verifier::verify(&still_bad, &cfg);
    let got = classes(&report);
    assert_eq!(
        got,
        [
            (A, "approximate-float"),
            (A, "fpu-state"),
            (A, "not-allowed")
        ],
        "{}",
        report.to_text()
    );
    assert_eq!(report.violations.len(), 4, "{}", report.to_text());
}

/// Rule 5 and the runtime page: `call HOSTCALL_ENTRY` is the one direct
/// branch allowed into it; a `jmp` to the entry (a tail call), a call
/// elsewhere in the page and a conditional branch into it are each
/// `branch-into-runtime`, with a message that names the page and says to
/// use `call`.
#[test]
fn runtime_page_branches() {
    let dir = work_dir("adversarial");
    // Offsets inside `m`: call 0, jmp 5, call 0xa, test 0xf, jz 0x11.
    let body = ".set host, 0x200000\n.set gate, 0x200010\n call host\n jmp host\n\
                call gate\n test edi, edi\n jz host";
    let bytes = common::asm(&dir, "runtime-page-branches", body);
    let report = check(&bytes);
    let text = report.to_text();
    let found: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.class, v.symbol.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        found,
        [
            ("branch-into-runtime", "m+0x5"),
            ("branch-into-runtime", "m+0xa"),
            ("branch-into-runtime", "m+0x11"),
        ],
        "{text}"
    );
    let messages: Vec<&str> = report
        .violations
        .iter()
        .map(|v| v.message.as_str())
        .collect();
    for m in &messages {
        assert!(
            m.contains("runtime page (0x200000..0x201000)")
                && m.contains("`call 0x200000` (nativm_abi::HOSTCALL_ENTRY)"),
            "{m}"
        );
    }
    assert!(
        messages[0].starts_with("direct jmp to 0x200000"),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("a host call must be a `call`"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].starts_with("direct call to 0x200010"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].starts_with("direct conditional branch to 0x200000"),
        "{}",
        messages[2]
    );
}

/// Value-undefined results: a 16-bit SHLD/SHRD is refused exactly when its
/// count, masked to 5 bits, exceeds 16 (Intel SDM Vol. 2B, SHLD/SHRD: "If
/// the count is greater than the operand size, the result is undefined"),
/// for register and memory destinations, every immediate 0-63 and 255.
#[test]
fn sixteen_bit_double_shifts() {
    let dir = work_dir("adversarial");
    let imms: Vec<u8> = (0..64).chain([255]).collect();
    let forms = [
        ("shld", "ax"),
        ("shrd", "ax"),
        ("shld", "word ptr [rdi]"),
        ("shrd", "word ptr [rdi]"),
    ];
    let mut body = String::new();
    let mut want = Vec::new();
    for (op, dst) in forms {
        for &imm in &imms {
            body += &format!(" {op} {dst}, bx, {imm}\n");
            if imm & 31 > 16 {
                want.push((op.to_string(), dst.starts_with("word"), imm));
            }
        }
    }
    let bytes = common::asm(&dir, "double-shifts-16", &body);
    let report = check(&bytes);
    let text = report.to_text();
    assert!(
        report
            .violations
            .iter()
            .all(|v| v.rule == A && v.class == "undefined-result"),
        "{text}"
    );
    let mut got: Vec<(String, bool, u8)> = report
        .violations
        .iter()
        .map(|v| {
            let op = v.disassembly.split(' ').next().unwrap_or("").to_string();
            (op, v.disassembly.contains('['), *v.bytes.last().unwrap())
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{text}");
    assert_eq!(want.len(), 4 * (15 + 15 + 1), "imm 17..=31, 49..=63, 255");
    assert!(
        report.violations[0]
            .message
            .contains("the count is greater than the operand size"),
        "{text}"
    );

    // By CL the count cannot be proven <= 16: refused at 16 bits only.
    let body = " shld ax, bx, cl\n shrd ax, bx, cl\n shld word ptr [rdi], bx, cl\n\
                shrd word ptr [rdi], bx, cl\n shld eax, ebx, cl\n shrd rax, rbx, cl\n\
                shld dword ptr [rdi], ebx, cl\n shrd qword ptr [rdi], rbx, cl";
    let report = check(&common::asm(&dir, "double-shifts-cl", body));
    let text = report.to_text();
    let got: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.class, v.disassembly.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("undefined-result", "shld ax,bx,cl"),
            ("undefined-result", "shrd ax,bx,cl"),
            ("undefined-result", "shld [rdi],bx,cl"),
            ("undefined-result", "shrd [rdi],bx,cl"),
        ],
        "{text}"
    );
    assert!(report.violations[0].message.contains("by CL"), "{text}");

    // 32- and 64-bit forms: the count is masked to 5 or 6 bits, always
    // below the operand size.
    let body = " shld eax, ebx, 17\n shrd eax, ebx, 31\n shld rax, rbx, 63\n\
                shrd qword ptr [rdi], rbx, 33\n shld dword ptr [rdi], ebx, 255";
    let report = check(&common::asm(&dir, "double-shifts-32-64", body));
    assert!(report.is_ok(), "{}", report.to_text());
}

/// BSF and BSR leave the destination undefined for a zero source (Intel)
/// but stay allowed: translation 2 skips them for a zero source, leaving
/// the destination unchanged (see the allowlist module docs).
#[test]
fn bsf_and_bsr_still_verify() {
    let dir = work_dir("adversarial");
    let body = " bsf ax, bx\n bsf eax, ebx\n bsf rax, qword ptr [rdi]\n bsr cx, word ptr [rsi]\n\
                bsr ecx, edx\n bsr r8, r9\n bsf r10d, dword ptr [rdi + 8]";
    let report = check(&common::asm(&dir, "bsf-bsr", body));
    assert!(report.is_ok(), "{}", report.to_text());
    assert_eq!(report.stats.instructions, 8, "{}", report.to_text());
}
