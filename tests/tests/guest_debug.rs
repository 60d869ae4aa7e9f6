//! Debugging a call on a real vCPU: the guest stops at the method's entry,
//! single-steps, stops at a hardware breakpoint, shows its registers and
//! memory, and runs on to its normal end (breakpoints by single-stepping:
//! see `nativm_vmm::debug` for what this host supports). Needs /dev/kvm and gcc.

use std::path::PathBuf;
use std::process::Command;

use nativm_host_calls::state::MemoryStore;
use nativm_host_calls::CallContext;
use nativm_vmm::debug::{DebugHook, DebugPlan, DebugStop, StopKind};
use nativm_vmm::VmmError;
use nativm_vmm::{open_kvm, shim, CallExit, CallRequest, Guest, GuestConfig};

const SOURCE: &str = r#"
typedef unsigned long u64;
static u64 hc(u64 nr, u64 a, u64 b, u64 c, u64 d) {
    return ((u64 (*)(u64, u64, u64, u64, u64))0x200000UL)(nr, a, b, c, d);
}
__attribute__((noinline)) u64 leaf(u64 x) { return x * 3 + 1; }
void run(const unsigned char *in, u64 len) {
    volatile u64 v = leaf(len + in[0]);
    u64 out = v;
    hc(2, (u64)&out, 8, 0, 0);
}
"#;

fn build() -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmm-debug");
    std::fs::create_dir_all(&dir).unwrap();
    let (src, out) = (dir.join("dbg.c"), dir.join("dbg.elf"));
    std::fs::write(&src, SOURCE).unwrap();
    let status = Command::new("gcc")
        .arg("-O1")
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc is needed for this test");
    assert!(status.success(), "gcc failed");
    std::fs::read(out).unwrap()
}

/// Records every stop and steers: three single steps from the entry, then
/// a breakpoint at `leaf`, then on to the end.
struct Script {
    entry: u64,
    leaf: u64,
    stops: Vec<(StopKind, u64)>,
    return_address: Option<u64>,
}

impl DebugHook for Script {
    fn stopped(&mut self, stop: &DebugStop) -> Result<DebugPlan, VmmError> {
        self.stops.push((stop.kind, stop.regs.rip));
        let steps = self.stops.len();
        if stop.kind == StopKind::Breakpoint {
            let mut word = [0u8; 8];
            assert_eq!(stop.memory.read(stop.regs.rsp, &mut word), 8);
            self.return_address = Some(u64::from_le_bytes(word));
            assert_eq!(
                stop.memory.read(0, &mut word),
                0,
                "the null page is not readable"
            );
            return Ok(DebugPlan::default());
        }
        Ok(if steps < 4 {
            DebugPlan {
                single_step: true,
                breakpoints: vec![self.entry],
            }
        } else {
            DebugPlan {
                single_step: false,
                breakpoints: vec![self.leaf],
            }
        })
    }
}

#[test]
fn a_call_stops_at_its_entry_steps_and_breaks_in_ring_3() {
    let elf = build();
    let image = nativm::artifact::unprepared_image(&elf).unwrap();
    let kvm = open_kvm().expect("/dev/kvm is required");
    let mut guest = Guest::new(&kvm, shim().unwrap(), &image, &GuestConfig::default()).unwrap();
    let store = MemoryStore::new();
    let mut ctx = CallContext::new(&store, [0; 32], [9; 32]);
    let entry = image.method("run").unwrap();
    let leaf = image.method("leaf").unwrap();
    let request = CallRequest {
        entry,
        input: &[5, 0, 0, 0],
        caller: [9; 32],
        timeout: None,
        gas_limit: 1_000_000,
    };
    let mut script = Script {
        entry,
        leaf,
        stops: Vec::new(),
        return_address: None,
    };
    let (exit, _) = guest
        .call_debugged(&request, &mut ctx, &mut script)
        .unwrap();
    assert_eq!(exit, CallExit::Returned);
    let (ret, _, _) = ctx.finish();
    assert_eq!(
        ret,
        ((4 + 5) * 3 + 1u64).to_le_bytes(),
        "the debugged call computes as ever"
    );
    let stops = &script.stops;
    assert_eq!(stops[0], (StopKind::Entry, entry), "{stops:x?}");
    for pair in stops[..4].windows(2) {
        assert_eq!(pair[1].0, StopKind::Step, "{stops:x?}");
        assert_ne!(pair[0].1, pair[1].1, "each step moves RIP: {stops:x?}");
    }
    assert_eq!(stops[4], (StopKind::Breakpoint, leaf), "{stops:x?}");
    assert_eq!(stops.len(), 5, "{stops:x?}");
    let ret_addr = script.return_address.unwrap();
    assert!(
        (entry..entry + 0x100).contains(&ret_addr),
        "leaf returns into run: {ret_addr:#x}"
    );
    assert!(guest.is_poisoned(), "a debugged guest is not reused");
}
