//! The timer of running calls: the gas backstop and the wall-clock limit,
//! in one process-wide thread that interrupts vCPU threads with a signal
//! (`KVM_RUN` then returns `EINTR`).
//!
//! **Gas backstop.** Block charges only subtract from the counter (`mm0`),
//! and the host reads it at every host call and at the end of the call. A
//! contract that loops without host calls is checked by the backstop: every
//! [`BACKSTOP_INTERVAL`] the thread signals each vCPU thread whose current
//! call has been running for at least a whole interval, and the VMM reads
//! the counter with `KVM_GET_FPU`; below zero, the call ends `out_of_gas`.
//! So an exhausted call is noticed at most two intervals plus one exit after
//! its gas ran out, and a call shorter than one interval is never
//! interrupted. The check never changes a receipt: the outcome depends only
//! on whether the counter went below zero, which charges decide, never the
//! moment of the check.
//!
//! **Wall-clock limit.** A call may also carry a deadline; once it has
//! passed, the thread marks the call [`Backstop::timed_out`] and signals it
//! at every tick until it ends (which also closes the race with a signal
//! sent just before the thread entered `KVM_RUN`). The limit is therefore
//! kept to within one interval.
//!
//! The signal ([`kick_signal`], `SIGRTMIN`) has a handler that does nothing,
//! installed without `SA_RESTART`, so its only effect is the interrupted
//! ioctl.
//!
//! Where the host CPU exposes a performance-monitoring unit
//! (`CPUID.0AH:EAX[7:0]` nonzero, Intel SDM Vol. 3B, 20.2), instruction-count
//! exits could replace the timer for gas; nativm uses the timer everywhere
//! today (the development machines have no PMU, so nothing else could be
//! tested here).
//!
//! Cost to a warm call: a few atomic stores (begin, end), no lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How often running calls are checked (gas) and deadlines compared.
pub const BACKSTOP_INTERVAL: Duration = Duration::from_millis(5);

/// The signal used to kick a vCPU thread out of `KVM_RUN`.
pub fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

extern "C" fn noop_handler(_: libc::c_int) {}

fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs a handler that does nothing (async-signal-safe) for
        // a real-time signal nativm owns; the sigaction struct is fully
        // initialised (zeroed, then the handler set).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = noop_handler as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(kick_signal(), &action, std::ptr::null_mut());
        }
    });
}

/// Nanoseconds since the first use of the backstop (a monotonic clock).
fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// One vCPU thread's slot.
struct Slot {
    thread: libc::pthread_t,
    /// Id of the running call, 0 when idle.
    running: AtomicU64,
    /// Deadline of the running call in [`now_ns`] time, 0 for none.
    deadline: AtomicU64,
    /// Set by the timer thread once the deadline has passed.
    timed_out: AtomicBool,
}

fn registry() -> &'static Mutex<Vec<Arc<Slot>>> {
    static REGISTRY: OnceLock<&'static Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        install_handler();
        now_ns();
        let registry: &'static Mutex<Vec<Arc<Slot>>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        std::thread::Builder::new()
            .name("nativm-backstop".into())
            .spawn(move || run(registry))
            .expect("spawning the backstop thread");
        registry
    })
}

fn run(registry: &'static Mutex<Vec<Arc<Slot>>>) {
    // The call id each slot was running at the previous tick.
    let mut seen: Vec<(usize, u64)> = Vec::new();
    loop {
        std::thread::sleep(BACKSTOP_INTERVAL);
        let now = now_ns();
        let mut slots = registry.lock().unwrap_or_else(|p| p.into_inner());
        // Slots of threads that exited hold only the registry's reference.
        slots.retain(|s| Arc::strong_count(s) > 1 || s.running.load(Ordering::SeqCst) != 0);
        let mut next = Vec::with_capacity(slots.len());
        for slot in slots.iter() {
            let key = Arc::as_ptr(slot) as usize;
            let call = slot.running.load(Ordering::SeqCst);
            if call != 0 {
                let deadline = slot.deadline.load(Ordering::SeqCst);
                let late = deadline != 0 && now >= deadline;
                if late {
                    slot.timed_out.store(true, Ordering::SeqCst);
                }
                if late || seen.contains(&(key, call)) {
                    // SAFETY: the slot's thread is alive: it holds a
                    // reference to the slot (retained above) and is inside a
                    // call.
                    unsafe { libc::pthread_kill(slot.thread, kick_signal()) };
                }
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
            deadline: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        });
        registry().lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&slot));
        slot
    };
}

/// The timer covering the calling thread's current call; ends on drop.
///
/// Calls nest: a host call that runs another contract's call on the same
/// thread (a contract-to-contract call) begins a second `Backstop` while the
/// first is alive. The inner one covers the thread until it is dropped, and
/// then the outer call's id, deadline and timeout flag are restored.
pub struct Backstop {
    slot: Arc<Slot>,
    /// The enclosing call's (id, deadline, timed out), restored on drop.
    outer: (u64, u64, bool),
}

impl Backstop {
    /// Starts covering a call on the current (vCPU) thread, with an optional
    /// wall-clock `limit` (kept to within [`BACKSTOP_INTERVAL`]).
    pub fn begin(limit: Option<Duration>) -> Backstop {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let slot = SLOT.with(Arc::clone);
        let outer = (
            slot.running.load(Ordering::SeqCst),
            slot.deadline.load(Ordering::SeqCst),
            slot.timed_out.load(Ordering::SeqCst),
        );
        let mut deadline = limit.map_or(0, |l| now_ns().saturating_add(l.as_nanos() as u64));
        // A nested call never outlives the call it runs in.
        if outer.1 != 0 && (deadline == 0 || outer.1 < deadline) {
            deadline = outer.1;
        }
        slot.timed_out.store(outer.2, Ordering::SeqCst);
        slot.deadline.store(deadline, Ordering::SeqCst);
        slot.running
            .store(NEXT.fetch_add(1, Ordering::Relaxed), Ordering::SeqCst);
        Backstop { slot, outer }
    }

    /// Whether the call's wall-clock limit has passed (it must end with a
    /// timeout).
    pub fn timed_out(&self) -> bool {
        self.slot.timed_out.load(Ordering::SeqCst)
    }
}

impl Drop for Backstop {
    fn drop(&mut self) {
        // An outer deadline that passed meanwhile is marked (and the
        // thread kicked) by the timer at its next tick.
        let (running, deadline, timed_out) = self.outer;
        self.slot.running.store(running, Ordering::SeqCst);
        self.slot.deadline.store(deadline, Ordering::SeqCst);
        self.slot.timed_out.store(timed_out, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_fires_after_it_passes_and_not_before() {
        let b = Backstop::begin(Some(Duration::from_millis(30)));
        assert!(!b.timed_out());
        let started = Instant::now();
        while !b.timed_out() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(b.timed_out(), "the limit passed 5 s ago");
        assert!(started.elapsed() >= Duration::from_millis(25));
        drop(b);
        let b = Backstop::begin(None);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!b.timed_out(), "no limit, no timeout");
    }

    #[test]
    fn a_long_call_is_kicked_every_interval() {
        // Count the signals this thread receives while "in a call".
        let b = Backstop::begin(None);
        let started = Instant::now();
        let mut interrupted = 0;
        while started.elapsed() < Duration::from_millis(60) {
            // SAFETY: nanosleep with valid pointers; EINTR marks a kick.
            let r = unsafe {
                let t = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 2_000_000,
                };
                libc::nanosleep(&t, std::ptr::null_mut())
            };
            if r != 0 {
                interrupted += 1;
            }
        }
        drop(b);
        assert!(interrupted >= 3, "{interrupted} kicks in 60 ms");
    }

    #[test]
    fn nested_calls_restore_the_outer_call() {
        let outer = Backstop::begin(Some(Duration::from_millis(40)));
        let outer_id = outer.slot.running.load(Ordering::SeqCst);
        let outer_deadline = outer.slot.deadline.load(Ordering::SeqCst);
        {
            let inner = Backstop::begin(Some(Duration::from_secs(60)));
            assert_ne!(inner.slot.running.load(Ordering::SeqCst), outer_id);
            assert_eq!(
                inner.slot.deadline.load(Ordering::SeqCst),
                outer_deadline,
                "a nested call never outlives the outer one"
            );
            let started = Instant::now();
            while !inner.timed_out() && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(inner.timed_out(), "the outer deadline ends the inner call");
        }
        assert_eq!(outer.slot.running.load(Ordering::SeqCst), outer_id);
        assert_eq!(outer.slot.deadline.load(Ordering::SeqCst), outer_deadline);
        let started = Instant::now();
        while !outer.timed_out() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(outer.timed_out());
        drop(outer);
        let short = Backstop::begin(Some(Duration::from_secs(60)));
        {
            let inner = Backstop::begin(Some(Duration::from_millis(10)));
            std::thread::sleep(Duration::from_millis(40));
            assert!(inner.timed_out());
        }
        assert!(!short.timed_out(), "an inner limit is the inner call's own");
    }
}
