//! Boots real KVM guests with tiny gcc-built contracts and checks each way a
//! call can end. Needs /dev/kvm and gcc.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nativm_host_calls::state::MemoryStore;
use nativm_host_calls::CallContext;
use nativm_vmm::{open_kvm, shim, CallExit, CallRequest, ContractImage, Guest, GuestConfig};

/// Compiles a freestanding C contract with gcc into a static ET_EXEC.
fn build_c(name: &str, source: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmm-boot");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let out = dir.join(format!("{name}.elf"));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc")
        .args([
            "-O1",
            "-ffreestanding",
            "-fno-builtin",
            "-nostdlib",
            "-static",
            "-no-pie",
            "-fno-pic",
            "-mno-red-zone",
        ])
        .args([
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-Wl,--build-id=none",
            "-Wl,-e,0",
        ])
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
    let image = ContractImage::parse(&elf).expect("valid contract");
    let kvm = open_kvm().expect("/dev/kvm is required");
    let mut guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let store = MemoryStore::new();
    let mut ctx = CallContext::new(&store, [0; 32], [9; 32]);
    let request = CallRequest {
        entry: image.method(method).unwrap(),
        input,
        caller: [9; 32],
        timeout,
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
    assert_eq!(stats.host_calls, 1);
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
    let image = ContractImage::parse(&elf).unwrap();
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
