//! # nativm-sdk: write nativm contracts in Rust
//!
//! A contract is a `#![no_std] #![no_main]` binary crate. Each *method* is an
//! exported `extern "C"` function with the signature fixed by the ABI
//! (see [`nativm_abi`]):
//!
//! ```ignore
//! #[no_mangle]
//! pub extern "C" fn fib(input: *const u8, len: u64) { ... }
//! ```
//!
//! The [`method!`] macro writes that boilerplate:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use nativm_sdk::{abort, method};
//!
//! method! {
//!     /// Returns its input unchanged.
//!     fn echo(input) -> &'static [u8] {
//!         input
//!     }
//! }
//! ```
//!
//! Every host call of the ABI has a safe wrapper here: [`input`], [`caller`],
//! [`set_return`], [`storage_read_into`] (plus [`storage_len`],
//! [`storage_read_u64`]), [`storage_write`], [`storage_remove`], [`log`] and
//! [`abort`], and [`call`] for contract-to-contract calls. With the default feature `panic-handler` the SDK provides the
//! `#[panic_handler]`, which aborts the call with the panic location and
//! message. With the feature `bump-alloc` it provides a bump allocator over
//! the call's heap as the `#[global_allocator]` (and [`storage_read_vec`]).
//!
//! The crate also defines `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`
//! (the target's `compiler_builtins` does not, and LLVM emits calls to them)
//! as small hand-written loops with hidden visibility; `images/build.rs`
//! turns hidden symbols into local ones (`objcopy --localize-hidden`), so
//! they are not mistaken for methods.

#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "bump-alloc")]
extern crate alloc;

pub use nativm_abi as abi;

use nativm_abi::{hostcall, limits, CallInfo};

mod mem;

/// Performs a raw host call: a plain System V call to
/// [`nativm_abi::HOSTCALL_ENTRY`].
///
/// # Safety
///
/// The arguments must be valid for host call `nr` (see [`nativm_abi::hostcall`]):
/// pointers must point at memory the host may read (or write) for the given
/// lengths. An invalid pointer does not corrupt the contract (the host checks
/// every pointer and ends the call with status `trap`), but a pointer to
/// memory Rust considers immutable that the host then writes would be UB.
#[inline(always)]
pub unsafe fn raw_hostcall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> u64 {
    // SAFETY: the ABI guarantees a function with exactly this signature at
    // HOSTCALL_ENTRY in the trusted runtime page.
    let f: extern "C" fn(u64, u64, u64, u64, u64) -> u64 =
        unsafe { core::mem::transmute(nativm_abi::HOSTCALL_ENTRY as usize) };
    f(nr, a0, a1, a2, a3)
}

/// Address passed for an empty input buffer: always readable (the CallInfo
/// page), so the host's range check passes whatever its zero-length policy.
const EMPTY_READABLE: u64 = nativm_abi::CALL_INFO;
/// Address passed for an empty output buffer: always writable (the return
/// buffer; a range of length 0 is never touched).
const EMPTY_WRITABLE: u64 = nativm_abi::RETURN_BUFFER;

#[inline(always)]
fn rd(s: &[u8]) -> (u64, u64) {
    if s.is_empty() {
        (EMPTY_READABLE, 0)
    } else {
        (s.as_ptr() as u64, s.len() as u64)
    }
}

#[inline(always)]
fn wr(s: &mut [u8]) -> (u64, u64) {
    if s.is_empty() {
        (EMPTY_WRITABLE, 0)
    } else {
        (s.as_mut_ptr() as u64, s.len() as u64)
    }
}

/// The [`CallInfo`] page the host wrote for this call.
#[inline(always)]
pub fn call_info() -> &'static CallInfo {
    // SAFETY: the ABI maps a read-only, initialised CallInfo at CALL_INFO for
    // the whole call; nothing in the guest writes it.
    unsafe { &*(nativm_abi::CALL_INFO as *const CallInfo) }
}

/// The call's input bytes (from the [`CallInfo`] page; the same bytes the
/// method receives as its `input`, `len` arguments).
#[inline]
pub fn input() -> &'static [u8] {
    let info = call_info();
    // SAFETY: the host maps `input_len` readable bytes at `input_ptr` for
    // the whole call, and never changes them during the call.
    unsafe { input_from_raw(info.input_ptr as *const u8, info.input_len) }
}

/// Turns a method's `(input, len)` arguments into a slice.
///
/// # Safety
///
/// `ptr` must point at `len` readable bytes that live and stay unchanged for
/// the rest of the call (true for the arguments the host passes a method).
#[inline(always)]
pub unsafe fn input_from_raw(ptr: *const u8, len: u64) -> &'static [u8] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(ptr, len as usize) }
    }
}

/// The 32-byte identity of the caller (host call `CALLER`).
#[inline]
pub fn caller() -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `out` is 32 writable bytes.
    unsafe { raw_hostcall(hostcall::CALLER, out.as_mut_ptr() as u64, 0, 0, 0) };
    out
}

/// Sets the call's return data, replacing any earlier value (host call
/// `SET_RETURN`). At most [`limits::MAX_RETURN_LEN`] bytes, else the call
/// traps.
#[inline]
pub fn set_return(data: &[u8]) {
    let (p, l) = rd(data);
    // SAFETY: `p`/`l` describe readable memory.
    unsafe { raw_hostcall(hostcall::SET_RETURN, p, l, 0, 0) };
}

/// Reads the value stored under `key` into `buf` (host call `STORAGE_READ`).
///
/// Returns `None` if the key is absent, else `Some(full_len)`, the length of
/// the whole value; only `min(full_len, buf.len())` bytes were copied. If
/// `full_len > buf.len()`, read again with a larger buffer (see
/// [`storage_len`]).
#[inline]
pub fn storage_read_into(key: &[u8], buf: &mut [u8]) -> Option<usize> {
    let (kp, kl) = rd(key);
    let (vp, vl) = wr(buf);
    // SAFETY: `key` is readable and `buf` writable for their lengths.
    let r = unsafe { raw_hostcall(hostcall::STORAGE_READ, kp, kl, vp, vl) };
    if r == hostcall::NOT_FOUND {
        None
    } else {
        Some(r as usize)
    }
}

/// The length of the value stored under `key`, or `None` if absent.
#[inline]
pub fn storage_len(key: &[u8]) -> Option<usize> {
    storage_read_into(key, &mut [])
}

/// Reads a `u64` stored little-endian under `key`; `None` if absent.
/// Aborts the call if the stored value is not exactly 8 bytes long.
#[inline]
pub fn storage_read_u64(key: &[u8]) -> Option<u64> {
    let mut buf = [0u8; 8];
    match storage_read_into(key, &mut buf) {
        None => None,
        Some(8) => Some(u64::from_le_bytes(buf)),
        Some(_) => abort("storage value is not an 8-byte u64"),
    }
}

/// Reads the whole value stored under `key` into a fresh `Vec` (feature
/// `bump-alloc`); `None` if absent.
#[cfg(feature = "bump-alloc")]
pub fn storage_read_vec(key: &[u8]) -> Option<alloc::vec::Vec<u8>> {
    let len = storage_len(key)?;
    let mut v = alloc::vec![0u8; len];
    let got = storage_read_into(key, &mut v)?;
    v.truncate(got.min(len));
    Some(v)
}

/// Stores `value` under `key` (host call `STORAGE_WRITE`). Keys are at most
/// [`limits::MAX_KEY_LEN`] bytes, values at most [`limits::MAX_VALUE_LEN`].
#[inline]
pub fn storage_write(key: &[u8], value: &[u8]) {
    let (kp, kl) = rd(key);
    let (vp, vl) = rd(value);
    // SAFETY: both slices are readable.
    unsafe { raw_hostcall(hostcall::STORAGE_WRITE, kp, kl, vp, vl) };
}

/// Stores a `u64` little-endian under `key`.
#[inline]
pub fn storage_write_u64(key: &[u8], value: u64) {
    storage_write(key, &value.to_le_bytes());
}

/// Removes `key` from storage (host call `STORAGE_REMOVE`); returns whether
/// it was present.
#[inline]
pub fn storage_remove(key: &[u8]) -> bool {
    let (kp, kl) = rd(key);
    // SAFETY: `key` is readable.
    unsafe { raw_hostcall(hostcall::STORAGE_REMOVE, kp, kl, 0, 0) != 0 }
}

/// Appends a log entry to the receipt (host call `LOG`). At most
/// [`limits::MAX_LOG_LEN`] bytes and [`limits::MAX_LOGS`] entries per call.
#[inline]
pub fn log(data: &[u8]) {
    let (p, l) = rd(data);
    // SAFETY: `data` is readable.
    unsafe { raw_hostcall(hostcall::LOG, p, l, 0, 0) };
}

/// Ends the call with status `reverted` and `msg` (host call `ABORT`),
/// discarding its storage writes. Messages longer than
/// [`limits::MAX_ABORT_MESSAGE_LEN`] bytes are truncated.
#[inline(never)]
#[cold]
pub fn abort(msg: &str) -> ! {
    abort_bytes(msg.as_bytes())
}

/// Like [`abort`], with a message given as bytes (lossily decoded as UTF-8
/// by the host).
#[inline(never)]
#[cold]
pub fn abort_bytes(msg: &[u8]) -> ! {
    let max = limits::MAX_ABORT_MESSAGE_LEN as usize;
    let msg = if msg.len() > max { &msg[..max] } else { msg };
    let (p, l) = rd(msg);
    // SAFETY: `msg` is readable.
    unsafe {
        raw_hostcall(hostcall::ABORT, p, l, 0, 0);
        // The host never returns from ABORT; trap if it somehow did.
        core::arch::asm!("ud2", options(noreturn, nomem, nostack));
    }
}

/// What a contract-to-contract [`call`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// A [`nativm_abi::contract_call`] status (`OK`, `REVERTED`, `TRAPPED`,
    /// `OUT_OF_GAS`, `DEPTH_EXCEEDED`, `NO_ACCOUNT`, `UNKNOWN_METHOD`).
    pub status: u64,
    /// The full length of the callee's return data; only
    /// `min(return_len, output.len())` bytes were copied.
    pub return_len: usize,
    /// Gas the callee used (the caller has paid it).
    pub gas_used: u64,
}

impl CallResult {
    /// Whether the callee returned (`status == OK`): its state changes
    /// joined this call's.
    pub fn is_ok(&self) -> bool {
        self.status == nativm_abi::contract_call::OK
    }
}

/// Calls `method` of the contract at `address` with `input`, giving it at
/// most `gas` (host call `CALL`); copies its return data into `output`.
/// The callee's storage writes join this call's only if it returns; this
/// call decides itself what to do when it does not (see [`CallResult`]).
/// Re-entrant calls (back into this contract) are allowed.
#[inline]
pub fn call(
    address: &[u8; 32],
    method: &str,
    input: &[u8],
    gas: u64,
    output: &mut [u8],
) -> CallResult {
    let (mp, ml) = rd(method.as_bytes());
    let (ip, il) = rd(input);
    let (op, ol) = wr(output);
    let mut desc: [u64; 10] = [address.as_ptr() as u64, mp, ml, ip, il, gas, op, ol, 0, 0];
    // SAFETY: the descriptor is 80 bytes, readable and writable; every
    // pointer in it describes a readable (or, for the output, writable)
    // buffer of the given length.
    let status = unsafe { raw_hostcall(hostcall::CALL, desc.as_mut_ptr() as u64, 0, 0, 0) };
    CallResult {
        status,
        return_len: desc[8] as usize,
        gas_used: desc[9],
    }
}

/// Aborts the call with `msg` unless `cond` holds.
#[inline(always)]
pub fn require(cond: bool, msg: &str) {
    if !cond {
        abort(msg)
    }
}

/// Defines exported contract methods.
///
/// Each `fn name(input) { ... }` becomes
/// `#[no_mangle] pub extern "C" fn name(input: *const u8, len: u64)`, with
/// `input` bound to the call input as `&'static [u8]`. With a return type
/// (`fn name(input) -> T { ... }`, `T: AsRef<[u8]>`) the returned value is
/// passed to [`set_return`].
///
/// ```ignore
/// nativm_sdk::method! {
///     /// Echoes the input.
///     fn echo(input) -> &'static [u8] { input }
///
///     /// Does nothing.
///     fn noop(_input) {}
/// }
/// ```
#[macro_export]
macro_rules! method {
    () => {};
    ($(#[$m:meta])* fn $name:ident($input:pat) -> $ret:ty $body:block $($rest:tt)*) => {
        $(#[$m])*
        #[no_mangle]
        #[allow(clippy::not_unsafe_ptr_arg_deref)]
        pub extern "C" fn $name(ptr: *const u8, len: u64) {
            // SAFETY: the host passes the call input, valid for the whole call.
            let $input: &'static [u8] = unsafe { $crate::input_from_raw(ptr, len) };
            let out: $ret = $body;
            $crate::set_return(::core::convert::AsRef::<[u8]>::as_ref(&out));
        }
        $crate::method! { $($rest)* }
    };
    ($(#[$m:meta])* fn $name:ident($input:pat) $body:block $($rest:tt)*) => {
        $(#[$m])*
        #[no_mangle]
        #[allow(clippy::not_unsafe_ptr_arg_deref)]
        pub extern "C" fn $name(ptr: *const u8, len: u64) {
            // SAFETY: the host passes the call input, valid for the whole call.
            let $input: &'static [u8] = unsafe { $crate::input_from_raw(ptr, len) };
            $body
        }
        $crate::method! { $($rest)* }
    };
}

/// Splits `input` into a fixed-size array and the rest, or aborts with
/// `what` if it is too short.
#[inline]
pub fn take_array<'a, const N: usize>(input: &'a [u8], what: &str) -> ([u8; N], &'a [u8]) {
    if input.len() < N {
        abort(what)
    }
    let (head, rest) = input.split_at(N);
    let mut a = [0u8; N];
    a.copy_from_slice(head);
    (a, rest)
}

#[cfg(feature = "panic-handler")]
mod panic {
    use core::fmt::Write;

    struct Buf {
        data: [u8; 512],
        len: usize,
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let room = self.data.len() - self.len;
            let n = s.len().min(room);
            self.data[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        let mut buf = Buf {
            data: [0; 512],
            len: 0,
        };
        let _ = write!(buf, "panicked");
        if let Some(loc) = info.location() {
            let _ = write!(buf, " at {}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        let _ = write!(buf, ": {}", info.message());
        super::abort_bytes(&buf.data[..buf.len])
    }
}

#[cfg(feature = "bump-alloc")]
mod bump {
    use core::alloc::{GlobalAlloc, Layout};
    use core::sync::atomic::{AtomicU64, Ordering};

    /// A bump allocator over the heap at `CallInfo::heap_base` of
    /// `CallInfo::heap_size` bytes. It never frees. Its only state is a
    /// `.bss` word, which the host resets with the rest of guest memory
    /// between calls.
    struct Bump {
        /// Offset of the next free byte from the heap base.
        next: AtomicU64,
    }

    // SAFETY: allocation never hands out overlapping ranges (single thread);
    // returns null when the heap is exhausted.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let info = super::call_info();
            let base = info.heap_base;
            let size = info.heap_size;
            let align = layout.align() as u64;
            let cur = base + self.next.load(Ordering::Relaxed);
            let start = match cur.checked_add(align - 1) {
                Some(v) => v & !(align - 1),
                None => return core::ptr::null_mut(),
            };
            let end = match start.checked_add(layout.size() as u64) {
                Some(e) if e <= base + size => e,
                _ => return core::ptr::null_mut(),
            };
            self.next.store(end - base, Ordering::Relaxed);
            start as *mut u8
        }

        unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
    }

    #[global_allocator]
    static ALLOC: Bump = Bump {
        next: AtomicU64::new(0),
    };
}
