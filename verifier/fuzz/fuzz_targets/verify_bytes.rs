//! Arbitrary bytes into the verifier: it must never panic (libFuzzer
//! reports a crash) nor hang (run with `-timeout=N`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = nativm_verifier::verify(data, &nativm_verifier::Config::default());
    // Arbitrary bytes are almost never a valid contract; but whatever the
    // verdict, the report must be self-consistent.
    assert_eq!(report.is_ok(), report.violations.is_empty());
});
