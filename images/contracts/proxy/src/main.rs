//! Example contract: forwards a call to another contract (host call `call`).
//!
//! Input of both methods: `to: [u8; 32] ++ gas: u64 LE ++ method_len: u8 ++
//! method ++ input` (the callee's input is the rest).
//!
//! - `forward`: calls `method` of the contract at `to` with `input` and at
//!   most `gas`; returns the callee's return data if it returned, and
//!   reverts with `"proxy: callee <status>"` otherwise (its writes, and this
//!   call's, are then dropped).
//! - `try_forward`: the same call, but never reverts: returns one status
//!   byte (`nativm_abi::contract_call`) followed by the callee's return
//!   data, and counts the calls it made under the key `b"calls"` (u64 LE),
//!   which is committed whatever the callee did.

#![no_std]
#![no_main]

use nativm_sdk::abi::contract_call;
use nativm_sdk::{abort, call, method, set_return, storage_read_u64, storage_write_u64, CallResult};

/// Room for the longest return data the ABI allows (in .bss: only the
/// pages the host writes are touched).
static mut OUTPUT: [u8; nativm_sdk::abi::limits::MAX_RETURN_LEN as usize] =
    [0; nativm_sdk::abi::limits::MAX_RETURN_LEN as usize];

/// Parses the forwarding header and makes the call; returns the result and
/// the return data.
fn forward_call(input: &[u8]) -> (CallResult, &'static [u8]) {
    if input.len() < 41 {
        abort("proxy: input must be to (32 bytes) ++ gas (u64 LE) ++ method_len (u8) ++ method ++ input");
    }
    let mut to = [0u8; 32];
    to.copy_from_slice(&input[..32]);
    let mut gas = [0u8; 8];
    gas.copy_from_slice(&input[32..40]);
    let gas = u64::from_le_bytes(gas);
    let method_len = input[40] as usize;
    let Some(method) = input.get(41..41 + method_len) else {
        abort("proxy: the method name is longer than the input")
    };
    let Ok(method) = core::str::from_utf8(method) else {
        abort("proxy: the method name is not UTF-8")
    };
    let args = &input[41 + method_len..];
    // SAFETY: a contract call runs single-threaded; OUTPUT is only used
    // here, and the slice handed out lives until the method returns.
    let output: &'static mut [u8] = unsafe { &mut *core::ptr::addr_of_mut!(OUTPUT) };
    let result = call(&to, method, args, gas, output);
    let len = result.return_len.min(output.len());
    (result, &output[..len])
}

fn status_name(status: u64) -> &'static str {
    match status {
        contract_call::OK => "ok",
        contract_call::REVERTED => "reverted",
        contract_call::TRAPPED => "trapped",
        contract_call::OUT_OF_GAS => "out of gas",
        contract_call::DEPTH_EXCEEDED => "depth exceeded",
        contract_call::NO_ACCOUNT => "no account",
        contract_call::UNKNOWN_METHOD => "unknown method",
        _ => "unknown status",
    }
}

method! {
    /// `forward(to, gas, method_len, method, input)`: the callee's return
    /// data, or a revert naming its status.
    fn forward(input) {
        let (result, data) = forward_call(input);
        if !result.is_ok() {
            match result.status {
                contract_call::REVERTED => abort("proxy: callee reverted"),
                contract_call::TRAPPED => abort("proxy: callee trapped"),
                contract_call::OUT_OF_GAS => abort("proxy: callee out of gas"),
                contract_call::DEPTH_EXCEEDED => abort("proxy: callee depth exceeded"),
                contract_call::NO_ACCOUNT => abort("proxy: callee no account"),
                contract_call::UNKNOWN_METHOD => abort("proxy: callee unknown method"),
                _ => abort(status_name(result.status)),
            }
        }
        set_return(data);
    }

    /// `try_forward(to, gas, method_len, method, input)`: status byte ++ the
    /// callee's return data; counts its calls under `b"calls"`.
    fn try_forward(input) {
        let calls = storage_read_u64(b"calls").unwrap_or(0);
        storage_write_u64(b"calls", calls.wrapping_add(1));
        let (result, data) = forward_call(input);
        // SAFETY: as in forward_call: OUTPUT is ours alone; byte 0 is
        // prepended by shifting the data one place right within OUTPUT.
        let out: &mut [u8] = unsafe { &mut *core::ptr::addr_of_mut!(OUTPUT) };
        let len = data.len().min(out.len() - 1);
        out.copy_within(..len, 1);
        out[0] = result.status as u8;
        set_return(&out[..len + 1]);
    }
}
