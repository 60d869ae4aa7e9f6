//! The wall-clock limit of a call: one process-wide timer thread that
//! interrupts a vCPU thread with a signal, which makes `KVM_RUN` return
//! `EINTR`.
//!
//! The signal ([`kick_signal`], `SIGRTMIN`) has a handler that does nothing,
//! installed without `SA_RESTART`, so its only effect is the interrupted
//! ioctl. A signal sent just before the thread enters `KVM_RUN` would be
//! lost, so once a limit has passed the timer repeats the signal every
//! millisecond until the call disarms its [`Watchdog`].
//!
//! Arming costs a lock and a map insertion, not a thread: a warm call pays
//! microseconds for its limit. The timer thread is started on first use and
//! sleeps until the earliest deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// The signal used to kick a vCPU thread out of `KVM_RUN`.
pub fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

/// How often a vCPU thread whose limit has passed is signalled again, until
/// it disarms (closes the race with a signal sent just before `KVM_RUN`).
pub const REKICK_INTERVAL: Duration = Duration::from_millis(1);

extern "C" fn noop_handler(_: libc::c_int) {}

pub(crate) fn install_handler() {
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

/// One armed limit.
struct Entry {
    deadline: Instant,
    target: libc::pthread_t,
    fired: Arc<AtomicBool>,
}

/// The timer's state, under one lock.
struct State {
    /// Next entry id.
    next_id: u64,
    /// Armed limits by id.
    entries: HashMap<u64, Entry>,
    /// When the timer thread will next wake by itself (`None`: it waits
    /// for a notification). Arming only wakes it for an earlier deadline.
    scheduled: Option<Instant>,
}

struct Timer {
    state: Mutex<State>,
    wake: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        install_handler();
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            state: Mutex::new(State {
                next_id: 0,
                entries: HashMap::new(),
                scheduled: None,
            }),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("nativm-watchdog".into())
            .spawn(move || timer.run())
            .expect("spawning the watchdog thread");
        timer
    })
}

impl Timer {
    fn run(&self) {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for entry in guard.entries.values_mut() {
                if entry.deadline <= now {
                    entry.fired.store(true, Ordering::SeqCst);
                    // SAFETY: `target` is a vCPU thread that armed this entry
                    // and is still inside its call: it removes the entry
                    // (under this lock) before it can exit.
                    unsafe { libc::pthread_kill(entry.target, kick_signal()) };
                    entry.deadline = now + REKICK_INTERVAL;
                }
                next = Some(next.map_or(entry.deadline, |n| n.min(entry.deadline)));
            }
            guard.scheduled = next;
            guard = match next {
                None => self.wake.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.wake
                        .wait_timeout(guard, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }
}

/// An armed wall-clock limit for the calling (vCPU) thread; disarmed on drop.
pub struct Watchdog {
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Watchdog {
    /// Arms a limit that kicks the current thread out of `KVM_RUN` once
    /// `limit` (nanosecond resolution) has passed.
    pub fn arm(limit: Duration) -> Watchdog {
        let timer = timer();
        let fired = Arc::new(AtomicBool::new(false));
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let deadline = Instant::now() + limit;
        let mut guard = timer.state.lock().unwrap_or_else(|p| p.into_inner());
        let id = guard.next_id;
        guard.next_id += 1;
        guard.entries.insert(
            id,
            Entry {
                deadline,
                target,
                fired: Arc::clone(&fired),
            },
        );
        // Wake the timer only if it would otherwise sleep past this deadline:
        // a warm call with the usual limit pays a lock, no context switch.
        let wake = guard.scheduled.is_none_or(|at| deadline < at);
        if wake {
            guard.scheduled = Some(deadline);
        }
        drop(guard);
        if wake {
            timer.wake.notify_one();
        }
        Watchdog { id, fired }
    }

    /// Whether the limit has passed (the call must end with a timeout).
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let timer = timer();
        timer
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_the_limit_and_not_before() {
        let w = Watchdog::arm(Duration::from_millis(30));
        assert!(!w.fired());
        let started = Instant::now();
        while !w.fired() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(w.fired(), "the limit passed 5 s ago");
        assert!(started.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn a_disarmed_watchdog_never_fires_and_many_can_be_armed() {
        let early = Watchdog::arm(Duration::from_secs(3600));
        let many: Vec<_> = (0..100)
            .map(|_| Watchdog::arm(Duration::from_secs(3600)))
            .collect();
        drop(many);
        let soon = Watchdog::arm(Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(50));
        assert!(soon.fired());
        assert!(!early.fired());
    }
}
