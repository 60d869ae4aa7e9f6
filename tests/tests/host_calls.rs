//! Malformed host-call arguments end the call with a `trap` receipt that
//! names the host call and the address; the host never panics, and nothing
//! the call wrote is committed.

use nativm::{StateDb, Status};
use nativm_tests::{call, example};

#[test]
fn every_malformed_host_call_is_refused_by_name() {
    let faults = example("faults");
    let cases: [(u8, &str); 9] = [
        (0, "set_return: data 0x0+8 is not readable"),
        (1, "caller: output buffer"),
        (2, "storage_write: key length 1025 exceeds the limit"),
        (3, "log: data 0x100000+16 is not readable"),
        (4, "storage_read: value buffer 0x7ffff000"),
        (5, "unknown host call number 999"),
        (6, "log: data 0xfffffffffffffff0+32 is not readable"),
        (7, "caller: output buffer 0x60000000+32 is not writable"),
        (8, "set_return: data length 268435456 exceeds the limit"),
    ];
    let store = StateDb::in_memory();
    for (which, expected) in cases {
        let r = call(&faults, &store, "bad_hostcall", &[which]);
        assert_eq!(r.outcome.status, Status::Trap, "case {which}: {r:?}");
        let trap = r.outcome.trap.as_ref().unwrap();
        assert_eq!(trap.kind, "host_call", "case {which}");
        assert!(
            trap.message.contains(expected),
            "case {which}: {:?} lacks {expected:?}",
            trap.message
        );
    }
    // Case 4 wrote "k" before its bad read: the trap discarded it.
    assert_eq!(store.get(&faults.code_hash(), b"k").unwrap(), None);
}
