//! The gas backstop: bounds the wall time between two checks of a running
//! call's gas counter.
//!
//! Block charges only subtract from the counter (`mm0`), and the host reads
//! it at every host call and at the end of the call. A contract that loops
//! without host calls is checked by the backstop: every
//! [`BACKSTOP_INTERVAL`], one process-wide thread signals each vCPU thread
//! whose current call has been running for at least a whole interval
//! (`KVM_RUN` returns `EINTR`), and the VMM reads the counter with
//! `KVM_GET_FPU`; below zero, the call ends `out_of_gas`. So an exhausted
//! call is noticed at most two intervals plus one exit after its gas ran
//! out, and a call shorter than one interval is never interrupted. The check
//! never changes a receipt: the outcome depends only on whether the counter
//! went below zero, which charges decide, never the moment of the check.
//!
//! Where the host CPU exposes a performance-monitoring unit
//! ([`host_pmu_version`]), instruction-count exits could replace the timer;
//! nativm detects it but uses the timer everywhere today (the development
//! machines have no PMU, so nothing else could be tested here).
//!
//! Cost to a warm call: two atomic stores (begin, end).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::watchdog::{install_handler, kick_signal};

/// How often running calls are checked.
pub const BACKSTOP_INTERVAL: Duration = Duration::from_millis(5);

/// The backstop mechanism in use: always `"timer"` (see the module docs).
pub fn mechanism() -> &'static str {
    "timer"
}

/// Version of the host's architectural performance-monitoring unit
/// (`CPUID.0AH:EAX[7:0]`, Intel SDM Vol. 3B, 20.2), 0 when there is none
/// (as on the development machines' nested KVM).
pub fn host_pmu_version() -> u32 {
    // Leaf 0 reports the highest leaf, checked before reading leaf 0xA.
    let max = std::arch::x86_64::__cpuid(0).eax;
    if max < 0xA {
        return 0;
    }
    std::arch::x86_64::__cpuid(0xA).eax & 0xff
}

/// One vCPU thread's slot: the id of its running call (0 when idle).
struct Slot {
    thread: libc::pthread_t,
    running: AtomicU64,
}

fn registry() -> &'static Mutex<Vec<Arc<Slot>>> {
    static REGISTRY: OnceLock<&'static Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        install_handler();
        let registry: &'static Mutex<Vec<Arc<Slot>>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        std::thread::Builder::new()
            .name("nativm-gas-backstop".into())
            .spawn(move || run(registry))
            .expect("spawning the gas backstop thread");
        registry
    })
}

fn run(registry: &'static Mutex<Vec<Arc<Slot>>>) {
    // The call id each slot was running at the previous tick.
    let mut seen: Vec<(usize, u64)> = Vec::new();
    loop {
        std::thread::sleep(BACKSTOP_INTERVAL);
        let mut slots = registry.lock().unwrap_or_else(|p| p.into_inner());
        // Slots of threads that exited hold only the registry's reference.
        slots.retain(|s| Arc::strong_count(s) > 1 || s.running.load(Ordering::SeqCst) != 0);
        let mut next = Vec::with_capacity(slots.len());
        for slot in slots.iter() {
            let key = Arc::as_ptr(slot) as usize;
            let call = slot.running.load(Ordering::SeqCst);
            if call != 0 && seen.contains(&(key, call)) {
                // SAFETY: the slot's thread is alive: it holds a reference to
                // the slot (retained above) and is inside a call.
                unsafe { libc::pthread_kill(slot.thread, kick_signal()) };
            }
            next.push((key, call));
        }
        seen = next;
    }
}

thread_local! {
    static SLOT: Arc<Slot> = {
        let slot = Arc::new(Slot {
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
            running: AtomicU64::new(0),
        });
        registry().lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&slot));
        slot
    };
}

/// The backstop covering the calling thread's current call; ends on drop.
pub struct Backstop {
    slot: Arc<Slot>,
}

impl Backstop {
    /// Starts covering a call on the current (vCPU) thread.
    pub fn begin() -> Backstop {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let slot = SLOT.with(Arc::clone);
        slot.running
            .store(NEXT.fetch_add(1, Ordering::Relaxed), Ordering::SeqCst);
        Backstop { slot }
    }
}

impl Drop for Backstop {
    fn drop(&mut self) {
        self.slot.running.store(0, Ordering::SeqCst);
    }
}
