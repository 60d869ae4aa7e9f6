//! The wall-clock limit of a call: a timer thread that interrupts the vCPU
//! thread with a signal, which makes `KVM_RUN` return `EINTR`.
//!
//! The signal ([`kick_signal`], `SIGRTMIN`) has a handler that does nothing,
//! installed without `SA_RESTART`, so the only effect is the interrupted
//! ioctl. A signal sent just before the thread enters `KVM_RUN` would be
//! lost, so the watchdog repeats it every millisecond until the call ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

struct Shared {
    done: Mutex<bool>,
    wake: Condvar,
    fired: AtomicBool,
}

/// Arms a wall-clock limit for the calling (vCPU) thread; disarmed on drop.
pub struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts a watchdog that kicks the current thread out of `KVM_RUN` once
    /// `limit` (nanosecond resolution) has passed.
    pub fn arm(limit: Duration) -> Watchdog {
        install_handler();
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() };
        let shared = Arc::new(Shared {
            done: Mutex::new(false),
            wake: Condvar::new(),
            fired: AtomicBool::new(false),
        });
        let worker = Arc::clone(&shared);
        let deadline = Instant::now() + limit;
        let thread = std::thread::Builder::new()
            .name("nativm-watchdog".into())
            .spawn(move || {
                let mut done = worker.done.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if *done {
                        return;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        worker.fired.store(true, Ordering::SeqCst);
                        // SAFETY: `target` is the vCPU thread, which outlives
                        // this watchdog: Drop joins us before it returns.
                        unsafe { libc::pthread_kill(target, kick_signal()) };
                        done = worker
                            .wake
                            .wait_timeout(done, Duration::from_millis(1))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    } else {
                        done = worker
                            .wake
                            .wait_timeout(done, deadline - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Watchdog {
            shared,
            thread: Some(thread),
        }
    }

    /// Whether the limit has passed (the call must end with a timeout).
    pub fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.shared.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
