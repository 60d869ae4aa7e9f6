//! Boots real KVM guests with tiny gcc-built contracts and checks each way a
//! call can end. Needs /dev/kvm and gcc.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nativm_host_calls::state::MemoryStore;
use nativm_host_calls::CallContext;
use nativm_vmm::{open_kvm, shim, CallExit, CallRequest, Guest, GuestConfig};

/// Compiles a freestanding C contract with gcc into a static ET_EXEC.
fn build_c(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmm-boot");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let out = dir.join(format!("{name}.elf"));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc")
        .arg("-O1")
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc is needed for these tests");
    assert!(status.success(), "gcc failed on {name}");
    std::fs::read(out).unwrap()
}

const PRELUDE: &str = r#"
typedef unsigned long u64;
static u64 hc(u64 nr, u64 a, u64 b, u64 c, u64 d) {
    return ((u64 (*)(u64, u64, u64, u64, u64))0x200000UL)(nr, a, b, c, d);
}
"#;

fn run(
    source: &str,
    method: &str,
    input: &[u8],
    timeout: Option<Duration>,
) -> (CallExit, Vec<u8>, nativm_vmm::CallStats) {
    let elf = build_c(method, &format!("{PRELUDE}{source}"));
    let image = nativm::artifact::unprepared_image(&elf).expect("valid contract");
    let kvm = open_kvm().expect("/dev/kvm is required");
    let mut guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let store = MemoryStore::new();
    let mut ctx = CallContext::new(&store, [0; 32], [9; 32]);
    let request = CallRequest {
        entry: image.method(method).unwrap(),
        input,
        caller: [9; 32],
        timeout,
        gas_limit: 1_000_000,
    };
    let (exit, stats) = guest.call(&request, &mut ctx).unwrap();
    let (ret, _, _) = ctx.finish();
    (exit, ret, stats)
}

#[test]
fn returns_and_sets_return_data() {
    let (exit, ret, stats) = run(
        r#"void echo(const unsigned char *in, u64 len) { hc(2, (u64)in, len, 0, 0); }"#,
        "echo",
        b"hello guest",
        None,
    );
    assert_eq!(exit, CallExit::Returned);
    assert_eq!(ret, b"hello guest");
    // set_return is served inside the guest by the runtime page: the call
    // costs one exit (its return) and no host-call exit.
    assert_eq!(stats.host_calls, 0);
    assert_eq!(stats.vm_exits, 1);
}

#[test]
fn null_dereference_is_a_page_fault() {
    let (exit, _, _) = run(
        r#"void nul(void) { *(volatile u64 *)0 = 1; }"#,
        "nul",
        b"",
        None,
    );
    let CallExit::Exception(e) = exit else {
        panic!("expected an exception, got {exit:?}")
    };
    assert_eq!(e.name, "page_fault");
    assert_eq!(e.fault_address, Some(0));
    assert!(e.message.contains("null pointer"), "{}", e.message);
}

#[test]
fn infinite_loop_times_out() {
    let (exit, _, _) = run(
        r#"void spin(void) { for (;;) __asm__ volatile(""); }"#,
        "spin",
        b"",
        Some(Duration::from_millis(100)),
    );
    assert_eq!(exit, CallExit::Timeout);
}

#[test]
fn kvm_holds_the_fixed_cpuid_table() {
    let elf = build_c("cpuid_table", &format!("{PRELUDE}void nop(void) {{}}"));
    let image = nativm::artifact::unprepared_image(&elf).unwrap();
    let kvm = open_kvm().expect("/dev/kvm is required");
    let guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let held = guest.cpuid().unwrap();
    for expected in nativm_vmm::cpuid::entries() {
        let got = held
            .iter()
            .find(|e| e.function == expected.function && e.index == expected.index)
            .unwrap_or_else(|| panic!("leaf {:#x} missing", expected.function));
        let set = (expected.eax, expected.ebx, expected.ecx, expected.edx);
        let held = (got.eax, got.ebx, got.ecx, got.edx);
        if matches!(expected.function, 1 | 7) {
            // kvm_pvm ORs the host's feature bits into leaves 1 and 7
            // (measured: AVX, RDRAND, ... appear); every feature we promise
            // must still be there.
            for (s, h) in [(set.1, held.1), (set.2, held.2), (set.3, held.3)] {
                assert_eq!(
                    h & s,
                    s,
                    "leaf {:#x} lost promised features: set {set:x?} held {held:x?}",
                    expected.function
                );
            }
        } else {
            assert_eq!(held, set, "leaf {:#x}", expected.function);
        }
    }
}

/// Privileged instructions never pass the verifier; if one ran anyway, the
/// CPU would still stop it (#GP in ring 3) and the host would report it.
#[test]
fn a_privileged_instruction_is_a_general_protection_fault() {
    let (exit, _, _) = run(
        r#"void priv(void) { __asm__ volatile("hlt"); }"#,
        "priv",
        b"",
        None,
    );
    let CallExit::Exception(e) = exit else {
        panic!("expected an exception, got {exit:?}")
    };
    assert_eq!(e.name, "general_protection");
    assert!(e.in_contract);
}

/// A contract that writes secrets everywhere it can reach (`scribble`) and
/// two that read everything back: `inspect` hashes data, bss, the whole
/// heap, the return buffer and the stack below its
/// frame; `regs` returns the registers, XMM0-15,
/// RFLAGS and MXCSR as the method sees them on entry.
const ISOLATION: &str = r#"
typedef unsigned char u8;
u64 data_secret = 0x1111111111111111UL;
u64 bss_secret[512];

static u64 fnv(u64 h, const volatile u8 *p, u64 n) {
    for (u64 i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211UL; }
    return h;
}

void scribble(void) {
    const volatile u64 *info = (const volatile u64 *)0x201000UL;
    volatile u8 *heap = (volatile u8 *)info[4];
    u64 heap_size = info[5];
    data_secret = 0xdeadbeefdeadbeefUL;
    for (int i = 0; i < 512; i++) bss_secret[i] = 0xabad1deaUL * (u64)(i + 1);
    for (u64 i = 0; i < heap_size; i += 512) heap[i] = (u8)(i >> 9) | 1;
    volatile u8 deep[64 * 1024];
    for (u64 i = 0; i < sizeof deep; i += 64) deep[i] = 0x5a;
    __asm__ volatile(
        "mov $0x77, %%eax\n movq %%rax, %%xmm0\n pshufd $0, %%xmm0, %%xmm0\n"
        "movdqa %%xmm0, %%xmm1\n movdqa %%xmm0, %%xmm2\n movdqa %%xmm0, %%xmm3\n movdqa %%xmm0, %%xmm4\n"
        "movdqa %%xmm0, %%xmm5\n movdqa %%xmm0, %%xmm6\n movdqa %%xmm0, %%xmm7\n movdqa %%xmm0, %%xmm8\n"
        "movdqa %%xmm0, %%xmm9\n movdqa %%xmm0, %%xmm10\n movdqa %%xmm0, %%xmm11\n movdqa %%xmm0, %%xmm12\n"
        "movdqa %%xmm0, %%xmm13\n movdqa %%xmm0, %%xmm14\n movdqa %%xmm0, %%xmm15\n"
        "sub $8, %%rsp\n movl $0x7f80, (%%rsp)\n ldmxcsr (%%rsp)\n add $8, %%rsp\n"
        "pushfq\n orq $0x40000, (%%rsp)\n popfq\n"
        "mov $0x99, %%ebx\n mov $0x99, %%r12d\n mov $0x99, %%r13d\n mov $0x99, %%r14d\n mov $0x99, %%r15d\n mov $0x99, %%ebp\n"
        "mov $0x99, %%r8d\n mov $0x99, %%r9d\n mov $0x99, %%r10d\n mov $0x99, %%r11d\n"
        ::: "rax", "rbx", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory",
            "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
            "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

void inspect(void) {
    const volatile u64 *info = (const volatile u64 *)0x201000UL;
    u64 h = 1469598103934665603UL;
    h = fnv(h, (const volatile u8 *)&data_secret, 8);
    h = fnv(h, (const volatile u8 *)bss_secret, sizeof bss_secret);
    h = fnv(h, (const volatile u8 *)info[4], info[5]);
    h = fnv(h, (const volatile u8 *)0x62000000UL, 1 << 20); /* the return buffer */
    u64 stack_bottom = info[6] - info[7];
    u8 here;
    u64 below = (u64)&here - 256;
    h = fnv(h, (const volatile u8 *)stack_bottom, below - stack_bottom);
    hc(2, (u64)&h, 8, 0, 0);
}

u64 regs_out[16 + 32 + 2];
__asm__(
    ".globl regs\n.type regs,@function\nregs:\n"
    " mov %rax, regs_out+0(%rip)\n mov %rbx, regs_out+8(%rip)\n mov %rcx, regs_out+16(%rip)\n mov %rdx, regs_out+24(%rip)\n"
    " mov %rbp, regs_out+32(%rip)\n mov %r8, regs_out+40(%rip)\n mov %r9, regs_out+48(%rip)\n mov %r10, regs_out+56(%rip)\n"
    " mov %r11, regs_out+64(%rip)\n mov %r12, regs_out+72(%rip)\n mov %r13, regs_out+80(%rip)\n mov %r14, regs_out+88(%rip)\n"
    " mov %r15, regs_out+96(%rip)\n"
    " movdqu %xmm0, regs_out+128(%rip)\n movdqu %xmm1, regs_out+144(%rip)\n movdqu %xmm2, regs_out+160(%rip)\n"
    " movdqu %xmm3, regs_out+176(%rip)\n movdqu %xmm4, regs_out+192(%rip)\n movdqu %xmm5, regs_out+208(%rip)\n"
    " movdqu %xmm6, regs_out+224(%rip)\n movdqu %xmm7, regs_out+240(%rip)\n movdqu %xmm8, regs_out+256(%rip)\n"
    " movdqu %xmm9, regs_out+272(%rip)\n movdqu %xmm10, regs_out+288(%rip)\n movdqu %xmm11, regs_out+304(%rip)\n"
    " movdqu %xmm12, regs_out+320(%rip)\n movdqu %xmm13, regs_out+336(%rip)\n movdqu %xmm14, regs_out+352(%rip)\n"
    " movdqu %xmm15, regs_out+368(%rip)\n"
    " pushfq\n pop %rax\n mov %rax, regs_out+384(%rip)\n stmxcsr regs_out+392(%rip)\n"
    " sub $8, %rsp\n mov $2, %edi\n lea regs_out(%rip), %rsi\n mov $400, %edx\n xor %ecx, %ecx\n xor %r8d, %r8d\n"
    " mov $0x200000, %eax\n call *%rax\n add $8, %rsp\n ret\n");
"#;

#[test]
fn a_warm_guest_shows_nothing_of_the_previous_call() {
    let elf = build_c("isolation", &format!("{PRELUDE}{ISOLATION}"));
    let image = nativm::artifact::unprepared_image(&elf).unwrap();
    let kvm = open_kvm().expect("/dev/kvm is required");
    let config = GuestConfig {
        heap_size: 1 << 20,
        stack_size: 256 << 10,
    };
    let store = MemoryStore::new();
    let call = |guest: &mut Guest, method: &str| {
        let mut ctx = CallContext::new(&store, [0; 32], [0; 32]);
        let request = CallRequest {
            entry: image.method(method).unwrap(),
            input: b"",
            caller: [0; 32],
            timeout: None,
            gas_limit: 1_000_000,
        };
        let (exit, stats) = guest.call(&request, &mut ctx).unwrap();
        assert_eq!(exit, CallExit::Returned, "{method}");
        (ctx.finish().0, stats)
    };
    let mut fresh = Guest::new(&kvm, shim().unwrap(), &image, &config).unwrap();
    let (pristine_hash, _) = call(&mut fresh, "inspect");
    let mut fresh = Guest::new(&kvm, shim().unwrap(), &image, &config).unwrap();
    let (pristine_regs, _) = call(&mut fresh, "regs");

    let mut warm = Guest::new(&kvm, shim().unwrap(), &image, &config).unwrap();
    for round in 0..3 {
        let (_, stats) = call(&mut warm, "scribble");
        // The heap the contract sees ends where the storage cache begins.
        let heap_pages = ((1 << 20) - nativm_abi::storage_cache::SIZE) / 4096;
        assert!(
            stats.pages_reset >= heap_pages + 16,
            "round {round}: scribbled heap and stack pages were reset ({} pages)",
            stats.pages_reset
        );
        let (hash, _) = call(&mut warm, "inspect");
        assert_eq!(
            hash, pristine_hash,
            "round {round}: memory after scribble differs from a pristine guest"
        );
        call(&mut warm, "scribble");
        let (regs, _) = call(&mut warm, "regs");
        assert_eq!(
            regs, pristine_regs,
            "round {round}: registers after scribble differ from a pristine guest"
        );
    }
    // The pristine state itself is what the ABI promises.
    let word = |i: usize| u64::from_le_bytes(pristine_regs[8 * i..8 * i + 8].try_into().unwrap());
    assert!(
        (0..13).filter(|&i| i != 3).all(|i| word(i) == 0 || i == 0),
        "general registers are zero on entry"
    );
    assert!(
        (16..48).all(|i| word(i) == 0),
        "XMM registers are zero on entry"
    );
    // Arithmetic flags on entry are those the runtime's `xor`s leave (ZF and
    // PF): deterministic. The trap, direction and alignment-check flags
    // (TF, DF, AC) are clear.
    assert_eq!(
        word(48) & 0x8d5,
        0x44,
        "arithmetic flags on entry: {:#x}",
        word(48)
    );
    assert_eq!(
        word(48) & 0x40500,
        0,
        "TF, DF and AC clear on entry: {:#x}",
        word(48)
    );
    assert_eq!(word(49) & 0xffff_ffff, 0x1f80, "MXCSR at its reset value");
}

#[test]
fn a_warm_guest_runs_call_after_call() {
    let elf = build_c(
        "echo_warm",
        &format!(
            "{PRELUDE}void echo(const unsigned char *in, u64 len) {{ hc(2, (u64)in, len, 0, 0); }}"
        ),
    );
    let image = nativm::artifact::unprepared_image(&elf).unwrap();
    let kvm = open_kvm().expect("/dev/kvm is required");
    let mut guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let store = MemoryStore::new();
    // Longer, then shorter inputs: the shorter one must not see the tail of
    // the longer one, and every call must take exactly two exits.
    let long: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    for input in [
        &b"a much longer first input"[..],
        b"short",
        b"",
        b"mid-size input",
        &long,
        b"x",
    ] {
        let mut ctx = CallContext::new(&store, [0; 32], [0; 32]);
        let request = CallRequest {
            entry: image.method("echo").unwrap(),
            input,
            caller: [0; 32],
            timeout: None,
            gas_limit: 1_000_000,
        };
        let (exit, stats) = guest.call(&request, &mut ctx).unwrap();
        assert_eq!(exit, CallExit::Returned);
        assert_eq!(
            stats.vm_exits, 1,
            "set_return needs no exit: only the return"
        );
        assert_eq!(ctx.finish().0, input);
    }
}

/// The null guest exits once per loop iteration and the measurement is a
/// positive number of nanoseconds (its value is the benchmarks' business).
#[test]
fn the_null_guest_measures_a_bare_exit_round_trip() {
    let kvm = open_kvm().expect("/dev/kvm is required");
    let ns = nativm_vmm::measure_exit_roundtrip(&kvm, 50).unwrap();
    assert!(ns > 0);
}

/// A guest of an empty method `m` after one clean call with `gas_limit`,
/// and that call's stats.
fn guest_after_one_call(name: &str, gas_limit: u64) -> (Guest, nativm_vmm::CallStats) {
    let elf = build_c(name, &format!("{PRELUDE}void m(void) {{}}"));
    let image = nativm::artifact::unprepared_image(&elf).unwrap();
    let kvm = open_kvm().expect("/dev/kvm is required");
    let mut guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let store = MemoryStore::new();
    let mut ctx = CallContext::new(&store, [0; 32], [0; 32]);
    let request = CallRequest {
        entry: image.method("m").unwrap(),
        input: b"",
        caller: [0; 32],
        timeout: None,
        gas_limit,
    };
    let (exit, stats) = guest.call(&request, &mut ctx).unwrap();
    assert_eq!(exit, CallExit::Returned);
    (guest, stats)
}

#[test]
fn the_vcpu_runs_in_long_mode_with_the_named_control_bits() {
    use nativm_vmm::vcpu;
    // After a call the vCPU is in the runtime loop, in ring 3.
    let (guest, _) = guest_after_one_call("sregs", 1_000);
    let sregs = guest.special_registers().unwrap();
    assert_eq!(
        sregs.cr0 & vcpu::GUEST_CR0,
        vcpu::GUEST_CR0,
        "cr0 {:#x}",
        sregs.cr0
    );
    assert_eq!(
        sregs.cr4 & vcpu::GUEST_CR4,
        vcpu::GUEST_CR4,
        "cr4 {:#x}",
        sregs.cr4
    );
    assert_eq!(
        sregs.efer & vcpu::GUEST_EFER,
        vcpu::GUEST_EFER,
        "efer {:#x}",
        sregs.efer
    );
    assert_eq!(sregs.cs.dpl, 3, "the guest waits in ring 3");
    assert_eq!(sregs.gs.base, nativm_abi::CODE_TABLE_BASE);
    assert_eq!(sregs.cr4 & (1 << 18), 0, "no OSXSAVE: no AVX state to leak");
    assert_eq!(sregs.cr4 & (1 << 16), 0, "no FSGSBASE");
    eprintln!("register access at exits: {:?}", guest.register_access());
}

#[test]
fn between_calls_the_gas_counters_are_zero() {
    // A backstop check that interrupts the next call before the runtime
    // loop has loaded its gas limit reads the counters as the last call
    // left them: they must be zero, never that call's (possibly negative)
    // gas (a fuzz finding: a stale kick made a later call out_of_gas).
    let (guest, stats) = guest_after_one_call("zero_gas", 123_456);
    assert_eq!(stats.gas_left, 123_456, "unprepared code charges nothing");
    assert_eq!(guest.gas_counters().unwrap(), 0);
}
