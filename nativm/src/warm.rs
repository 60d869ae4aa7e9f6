//! The per-thread cache of warm guests.
//!
//! A guest that ended its last call cleanly was reset by the VMM and waits
//! in the runtime loop; the next call of the same contract on the same
//! thread reuses it. The cache is per thread because a vCPU runs best on
//! the thread that last ran it (KVM re-binds a vCPU that moves between
//! threads at a cost).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use nativm_vmm::Guest;

/// Most warm guests one thread keeps (one per engine and contract); the
/// least recently used is dropped beyond it.
pub const WARM_GUESTS_PER_THREAD: usize = 16;

/// Key of a warm guest: (engine id, code hash).
pub(crate) type WarmKey = (u64, [u8; 32]);

/// Warm guests of one thread: key -> (last use, guest).
type WarmGuests = HashMap<WarmKey, (u64, Guest)>;

thread_local! {
    static WARM_GUESTS: RefCell<WarmGuests> = RefCell::new(HashMap::new());
}

/// Takes this thread's warm guest for `key`, if it has one.
pub(crate) fn take(key: WarmKey) -> Option<Guest> {
    WARM_GUESTS
        .with(|w| w.borrow_mut().remove(&key))
        .map(|(_, g)| g)
}

/// Keeps `guest` as this thread's warm guest for `key`, dropping the least
/// recently used one if the thread holds [`WARM_GUESTS_PER_THREAD`].
pub(crate) fn keep(key: WarmKey, guest: Guest) {
    static USES: AtomicU64 = AtomicU64::new(0);
    let stamp = USES.fetch_add(1, Ordering::Relaxed);
    WARM_GUESTS.with(|w| {
        let mut cache = w.borrow_mut();
        if cache.len() >= WARM_GUESTS_PER_THREAD {
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| *k)
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(key, (stamp, guest));
    });
}
