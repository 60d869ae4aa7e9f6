//! Errors of the VMM itself. Contract misbehaviour is never a [`VmmError`]:
//! it is a [`crate::CallExit`].

use crate::elf::ElfError;

/// Why the guest's memory map cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The heap asked for is larger than the ABI allows.
    #[error("heap size {size} bytes exceeds the maximum {max} bytes")]
    HeapTooLarge {
        /// Requested size, in bytes (rounded up to pages).
        size: u64,
        /// `nativm_abi::MAX_HEAP_SIZE`, in bytes.
        max: u64,
    },
    /// The stack asked for is larger than the ABI allows.
    #[error("stack size {size} bytes exceeds the maximum {max} bytes")]
    StackTooLarge {
        /// Requested size, in bytes (rounded up to pages).
        size: u64,
        /// `nativm_abi::MAX_STACK_SIZE`, in bytes.
        max: u64,
    },
    /// A mapping is not page aligned.
    #[error("mapping {name} at {va:#x} (+{len:#x}) is not page aligned")]
    Unaligned {
        /// What the mapping is.
        name: String,
        /// Its first virtual address.
        va: u64,
        /// Its length, in bytes.
        len: u64,
    },
    /// Two mappings overlap.
    #[error("{name} at {va:#x}..{end:#x} overlaps {other} at {other_va:#x}..{other_end:#x}")]
    Overlap {
        /// The mapping being added.
        name: String,
        /// Its first virtual address.
        va: u64,
        /// Its end (exclusive).
        end: u64,
        /// The mapping already there.
        other: String,
        /// Its first virtual address.
        other_va: u64,
        /// Its end (exclusive).
        other_end: u64,
    },
    /// The page-table pool is exhausted.
    #[error("page-table pool exhausted ({pages} pages): heap or stack too large")]
    PageTablesExhausted {
        /// Size of the pool, in pages.
        pages: u64,
    },
}

/// Errors of the VMM. Everything a contract does is a [`crate::CallExit`].
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// `/dev/kvm` cannot be opened or is unusable.
    #[error("KVM is not available: {reason}")]
    KvmUnavailable {
        /// Why, and what to do about it.
        reason: String,
    },
    /// A KVM ioctl failed.
    #[error("{op} failed: {source}")]
    Kvm {
        /// The ioctl, e.g. `KVM_CREATE_VM`.
        op: &'static str,
        /// The error from the kernel.
        source: kvm_ioctls::Error,
    },
    /// Guest memory could not be allocated, read or written.
    #[error("guest memory: {action} at guest physical {gpa:#x}+{len:#x} failed")]
    GuestMemory {
        /// What was being done ("loading the prepared code", ...).
        action: &'static str,
        /// Guest physical address of the range.
        gpa: u64,
        /// Length of the range, in bytes.
        len: u64,
    },
    /// The memory map cannot be built.
    #[error("guest layout: {0}")]
    Layout(#[from] LayoutError),
    /// The call's input is longer than the ABI allows.
    #[error("call input is {len} bytes, more than the {max} byte limit")]
    InputTooLarge {
        /// Input length, in bytes.
        len: u64,
        /// `nativm_abi::MAX_INPUT_LEN`, in bytes.
        max: u64,
    },
    /// The call's gas limit is above the ABI's maximum.
    #[error("gas limit {limit} exceeds the maximum {max}")]
    GasLimitTooLarge {
        /// The requested limit, in gas.
        limit: u64,
        /// `nativm_abi::MAX_GAS_LIMIT`, in gas.
        max: u64,
    },
    /// A guest the VMM built for a measurement left in an unexpected way.
    #[error("unexpected VM exit: {what}")]
    UnexpectedExit {
        /// What happened.
        what: String,
    },
    /// The guest ended an earlier call abnormally and must not be reused.
    #[error("the guest is poisoned by an earlier failed call and cannot run another")]
    Poisoned,
    /// The embedded guest shim is malformed (a build defect).
    #[error("guest shim: {0}")]
    Shim(ElfError),
}

/// Maps a failed ioctl to [`VmmError::Kvm`] naming it.
pub(crate) fn kvm_err(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmmError {
    move |source| VmmError::Kvm { op, source }
}

/// A [`VmmError::GuestMemory`] for `action` on `gpa+len`.
pub(crate) fn memory_err(action: &'static str, gpa: u64, len: u64) -> VmmError {
    VmmError::GuestMemory { action, gpa, len }
}

/// Runs an ioctl again while it fails with `EINTR` (the backstop's kick
/// signal can land while a thread sets up its next guest), at most 100
/// times.
pub(crate) fn retry_interrupted<T>(
    mut ioctl: impl FnMut() -> Result<T, kvm_ioctls::Error>,
) -> Result<T, kvm_ioctls::Error> {
    let mut tries = 0;
    loop {
        match ioctl() {
            Err(e) if e.errno() == libc::EINTR && tries < 100 => tries += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_ioctls_are_retried_and_other_errors_are_not() {
        let mut calls = 0;
        let r = retry_interrupted(|| {
            calls += 1;
            if calls < 3 {
                Err(kvm_ioctls::Error::new(libc::EINTR))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3, "two EINTRs, then success");
        let mut calls = 0;
        let r: Result<(), _> = retry_interrupted(|| {
            calls += 1;
            Err(kvm_ioctls::Error::new(libc::ENOMEM))
        });
        assert_eq!(r.unwrap_err().errno(), libc::ENOMEM);
        assert_eq!(calls, 1, "other errors are returned at once");
    }
}
