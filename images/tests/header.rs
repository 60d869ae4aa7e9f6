//! Checks that `sdk-c/nativm.h` defines exactly the ABI of `nativm-abi`.

use nativm_abi as abi;
use std::collections::BTreeMap;

/// Every ABI constant under its C macro name (without the `NATIVM_` prefix).
fn abi_constants() -> BTreeMap<&'static str, u64> {
    use abi::{call_info, contract_call, hostcall, limits};
    BTreeMap::from([
        ("ABI_VERSION", u64::from(abi::ABI_VERSION)),
        ("PAGE_SIZE", abi::PAGE_SIZE),
        ("SHIM_SYSTEM_BASE", abi::SHIM_SYSTEM_BASE),
        ("PAGE_TABLE_BASE", abi::PAGE_TABLE_BASE),
        ("PAGE_TABLE_END", abi::PAGE_TABLE_END),
        ("SHIM_BASE", abi::SHIM_BASE),
        ("SHIM_END", abi::SHIM_END),
        ("RUNTIME_BASE", abi::RUNTIME_BASE),
        ("HOSTCALL_ENTRY", abi::HOSTCALL_ENTRY),
        ("CALL_INFO", abi::CALL_INFO),
        ("CONTRACT_WINDOW_START", abi::CONTRACT_WINDOW_START),
        ("CONTRACT_WINDOW_END", abi::CONTRACT_WINDOW_END),
        ("HEAP_BASE", abi::HEAP_BASE),
        ("MAX_HEAP_SIZE", abi::MAX_HEAP_SIZE),
        ("INPUT_BASE", abi::INPUT_BASE),
        ("MAX_INPUT_LEN", abi::MAX_INPUT_LEN),
        ("STACK_TOP", abi::STACK_TOP),
        ("MAX_STACK_SIZE", abi::MAX_STACK_SIZE),
        ("DOORBELL_GPA", abi::DOORBELL_GPA),
        ("DOORBELL_VA", abi::DOORBELL_VA),
        ("CALL_INFO_ENTRY", call_info::ENTRY),
        ("CALL_INFO_INPUT_PTR", call_info::INPUT_PTR),
        ("CALL_INFO_INPUT_LEN", call_info::INPUT_LEN),
        ("CALL_INFO_STACK_TOP", call_info::STACK_TOP),
        ("CALL_INFO_ABI_VERSION", call_info::ABI_VERSION),
        ("RETURN_BUFFER", abi::RETURN_BUFFER),
        ("CALL_INFO_HEAP_BASE", call_info::HEAP_BASE),
        ("CALL_INFO_HEAP_SIZE", call_info::HEAP_SIZE),
        ("CALL_INFO_STACK_SIZE", call_info::STACK_SIZE),
        ("CALL_INFO_CALLER", call_info::CALLER),
        ("CALL_INFO_SIZE", call_info::SIZE),
        ("HOSTCALL_RETURN", hostcall::RETURN),
        ("HOSTCALL_CALLER", hostcall::CALLER),
        ("HOSTCALL_SET_RETURN", hostcall::SET_RETURN),
        ("HOSTCALL_STORAGE_READ", hostcall::STORAGE_READ),
        ("HOSTCALL_STORAGE_WRITE", hostcall::STORAGE_WRITE),
        ("HOSTCALL_STORAGE_REMOVE", hostcall::STORAGE_REMOVE),
        ("HOSTCALL_LOG", hostcall::LOG),
        ("HOSTCALL_ABORT", hostcall::ABORT),
        ("HOSTCALL_CALL", hostcall::CALL),
        ("CONTRACT_CALL_ADDRESS_PTR", contract_call::ADDRESS_PTR),
        ("CONTRACT_CALL_METHOD_PTR", contract_call::METHOD_PTR),
        ("CONTRACT_CALL_METHOD_LEN", contract_call::METHOD_LEN),
        ("CONTRACT_CALL_INPUT_PTR", contract_call::INPUT_PTR),
        ("CONTRACT_CALL_INPUT_LEN", contract_call::INPUT_LEN),
        ("CONTRACT_CALL_GAS", contract_call::GAS),
        ("CONTRACT_CALL_OUTPUT_PTR", contract_call::OUTPUT_PTR),
        ("CONTRACT_CALL_OUTPUT_CAP", contract_call::OUTPUT_CAP),
        ("CONTRACT_CALL_OUTPUT_LEN", contract_call::OUTPUT_LEN),
        ("CONTRACT_CALL_GAS_USED", contract_call::GAS_USED),
        ("CONTRACT_CALL_SIZE", contract_call::SIZE),
        (
            "CONTRACT_CALL_MAX_METHOD_LEN",
            contract_call::MAX_METHOD_LEN,
        ),
        (
            "CONTRACT_CALL_MAX_CALL_DEPTH",
            contract_call::MAX_CALL_DEPTH,
        ),
        ("CONTRACT_CALL_OK", contract_call::OK),
        ("CONTRACT_CALL_REVERTED", contract_call::REVERTED),
        ("CONTRACT_CALL_TRAPPED", contract_call::TRAPPED),
        ("CONTRACT_CALL_OUT_OF_GAS", contract_call::OUT_OF_GAS),
        (
            "CONTRACT_CALL_DEPTH_EXCEEDED",
            contract_call::DEPTH_EXCEEDED,
        ),
        ("CONTRACT_CALL_NO_ACCOUNT", contract_call::NO_ACCOUNT),
        (
            "CONTRACT_CALL_UNKNOWN_METHOD",
            contract_call::UNKNOWN_METHOD,
        ),
        ("HOSTCALL_NOT_FOUND", hostcall::NOT_FOUND),
        ("MAX_KEY_LEN", limits::MAX_KEY_LEN),
        ("MAX_VALUE_LEN", limits::MAX_VALUE_LEN),
        ("MAX_RETURN_LEN", limits::MAX_RETURN_LEN),
        ("MAX_LOG_LEN", limits::MAX_LOG_LEN),
        ("MAX_LOGS", limits::MAX_LOGS),
        ("MAX_ABORT_MESSAGE_LEN", limits::MAX_ABORT_MESSAGE_LEN),
        ("CALL_INFO_GAS_LIMIT", call_info::GAS_LIMIT),
        ("PREPARED_CODE_BASE", abi::PREPARED_CODE_BASE),
        ("PREPARED_CODE_END", abi::PREPARED_CODE_END),
        ("CODE_TABLE_BASE", abi::CODE_TABLE_BASE),
        ("CODE_TABLE_LIMIT", abi::CODE_TABLE_LIMIT),
        ("CODE_TABLE_WINDOW", abi::CODE_TABLE_WINDOW),
        ("SET_RETURN_GAS_BASE", abi::SET_RETURN_GAS_BASE),
        ("SET_RETURN_GAS_PER_BYTE", abi::SET_RETURN_GAS_PER_BYTE),
        ("MAX_GAS_LIMIT", abi::MAX_GAS_LIMIT),
        ("INVALID_TARGET_BASE", abi::INVALID_TARGET_BASE),
    ])
}

/// Parses a C integer literal (decimal or hex, optional U/L suffixes).
fn parse_c_int(s: &str) -> Option<u64> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// `#define NATIVM_<NAME> <integer literal>` lines of the header.
fn header_defines() -> BTreeMap<String, u64> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk-c/nativm.h");
    let text = std::fs::read_to_string(path).expect("read nativm.h");
    let mut defs = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        let Some(name) = name.strip_prefix("NATIVM_") else {
            continue;
        };
        if name.contains('(') {
            continue; // function-like macro
        }
        if let Some(v) = parse_c_int(value) {
            assert!(
                defs.insert(name.to_string(), v).is_none(),
                "NATIVM_{name} defined twice"
            );
        }
    }
    defs
}

#[test]
fn header_matches_abi() {
    let abi = abi_constants();
    let header = header_defines();
    let mut errors = Vec::new();
    for (name, &want) in &abi {
        match header.get(*name) {
            None => errors.push(format!("NATIVM_{name} missing from nativm.h")),
            Some(&got) if got != want => errors.push(format!(
                "NATIVM_{name} = {got:#x} in nativm.h, {want:#x} in nativm-abi"
            )),
            Some(_) => {}
        }
    }
    for name in header.keys() {
        if !abi.contains_key(name.as_str()) {
            errors.push(format!(
                "NATIVM_{name} in nativm.h has no nativm-abi counterpart"
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn call_info_layout_matches() {
    // The header _Static_asserts the same offsets and a size of 104 bytes.
    assert_eq!(std::mem::size_of::<abi::CallInfo>(), 104);
    assert_eq!(
        std::mem::offset_of!(abi::CallInfo, gas_limit) as u64,
        abi::call_info::GAS_LIMIT
    );
    assert_eq!(
        std::mem::offset_of!(abi::CallInfo, entry) as u64,
        abi::call_info::ENTRY
    );
    assert_eq!(
        std::mem::offset_of!(abi::CallInfo, input_ptr) as u64,
        abi::call_info::INPUT_PTR
    );
    assert_eq!(
        std::mem::offset_of!(abi::CallInfo, input_len) as u64,
        abi::call_info::INPUT_LEN
    );
    assert_eq!(
        std::mem::offset_of!(abi::CallInfo, stack_top) as u64,
        abi::call_info::STACK_TOP
    );
}
