//! The canonical encoding of an [`Outcome`], and its hash.
//!
//! [`Outcome::encode`] writes the outcome as one byte string, the same for
//! equal outcomes on every machine; [`Outcome::hash`] is SHA-256 of it.
//! Only the outcome is encoded: no field of [`crate::receipt::Diagnostics`]
//! (timings, warmth, VM exits, backstop checks) takes part, so two
//! executions of the same call hash the same whatever they cost.
//!
//! # Layout (version 1)
//!
//! Three primitive forms, and nothing else:
//!
//! * `u8`: one byte; `u64`: eight bytes, little-endian;
//! * `bytes(x)`: `u64` length of `x` in bytes, then the bytes of `x`
//!   (text is its UTF-8 bytes);
//! * `opt(T)`: one byte `0x00` when absent; `0x01` and then `T` when
//!   present.
//!
//! The outcome is these fields, in this order, with no padding:
//!
//! | # | field | form |
//! | --- | --- | --- |
//! | 1 | tag | the 16 ASCII bytes `nativm-outcome/1` ([`OUTCOME_TAG`]) |
//! | 2 | status | `u8`: [`Status::code`] (`ok` 0, `reverted` 1, `trap` 2, `out_of_gas` 3) |
//! | 3 | code hash | 32 bytes, as is |
//! | 4 | method | `bytes` |
//! | 5 | gas limit | `u64` |
//! | 6 | gas used | `u64` |
//! | 7 | return data | `bytes` |
//! | 8 | logs | `u64` count, then each log as `bytes`, in emission order |
//! | 9 | state changes | `u64` count, then each change in the change set's order (ascending contract id, then ascending key bytes): contract id (32 bytes), key as `bytes`, then `u8` `0x00` for a removal, or `u8` `0x01` and the value as `bytes` for a write |
//! | 10 | message | `opt(bytes)` |
//! | 11 | trap | `opt(trap)`, where `trap` is: kind as `bytes`; exception name `opt(bytes)`; vector `opt(u8)`; rip `opt(u64)`; fault address `opt(u64)`; in contract `u8` (`0x00` or `0x01`); message as `bytes` |
//!
//! Every length and count is the exact number of bytes or items that
//! follow, so the encoding is prefix-free and decodes one way only. The
//! texts (messages, trap kinds and exception names) are part of it: a
//! change of their wording changes outcome hashes, and must be released as
//! a consensus change, with a new tag.
//!
//! For example, an `ok` call of `get` (code hash 32 bytes of `0x11`, gas
//! limit 1000, gas used 7) that returned `2a`, logged nothing, wrote
//! nothing and has no message or trap encodes as
//!
//! ```text
//! 6e 61 74 69 76 6d 2d 6f 75 74 63 6f 6d 65 2f 31    "nativm-outcome/1"
//! 00                                                 status ok
//! 11 x 32                                            code hash
//! 03 00 00 00 00 00 00 00 67 65 74                   method "get"
//! e8 03 00 00 00 00 00 00                            gas limit 1000
//! 07 00 00 00 00 00 00 00                            gas used 7
//! 01 00 00 00 00 00 00 00 2a                         return data
//! 00 00 00 00 00 00 00 00                            no logs
//! 00 00 00 00 00 00 00 00                            no state changes
//! 00                                                 no message
//! 00                                                 no trap
//! ```
//!
//! (a unit test below checks exactly these bytes).

use sha2::{Digest, Sha256};

use super::{Outcome, Status, Trap};

/// The first 16 bytes of every encoded outcome: the format and its
/// version. Another layout would take another tag.
pub const OUTCOME_TAG: &[u8; 16] = b"nativm-outcome/1";

impl Status {
    /// The status's byte in the canonical encoding of an [`Outcome`].
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Reverted => 1,
            Status::Trap => 2,
            Status::OutOfGas => 3,
        }
    }
}

/// Appends the primitive forms of the layout to a buffer.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.0.extend_from_slice(v);
    }

    fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                write(self, v);
            }
        }
    }

    fn trap(&mut self, t: &Trap) {
        self.bytes(t.kind.as_bytes());
        self.opt(t.exception, |w, e| w.bytes(e.as_bytes()));
        self.opt(t.vector, Writer::u8);
        self.opt(t.rip, Writer::u64);
        self.opt(t.address, Writer::u64);
        self.u8(u8::from(t.in_contract));
        self.bytes(t.message.as_bytes());
    }
}

impl Outcome {
    /// The canonical encoding (layout in [this module's
    /// documentation](self)).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128 + self.return_data.len()));
        w.0.extend_from_slice(OUTCOME_TAG);
        w.u8(self.status.code());
        w.0.extend_from_slice(&self.code_hash);
        w.bytes(self.method.as_bytes());
        w.u64(self.gas_limit);
        w.u64(self.gas_used);
        w.bytes(&self.return_data);
        w.u64(self.logs.len() as u64);
        for log in &self.logs {
            w.bytes(log);
        }
        w.u64(self.changes.len() as u64);
        for (contract, key, value) in self.changes.iter() {
            w.0.extend_from_slice(contract);
            w.bytes(key);
            w.opt(value, Writer::bytes);
        }
        w.opt(self.message.as_deref(), |w, m| w.bytes(m.as_bytes()));
        w.opt(self.trap.as_ref(), Writer::trap);
        w.0
    }

    /// SHA-256 of [`Outcome::encode`]: what a validator commits to for the
    /// call.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.encode()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChangeSet;

    fn get() -> Outcome {
        Outcome {
            status: Status::Ok,
            message: None,
            trap: None,
            return_data: vec![0x2a],
            logs: Vec::new(),
            gas_used: 7,
            gas_limit: 1000,
            changes: ChangeSet::new(),
            method: "get".into(),
            code_hash: [0x11; 32],
        }
    }

    #[test]
    fn the_documented_example_encodes_to_the_documented_bytes() {
        let mut expected = b"nativm-outcome/1".to_vec();
        expected.push(0);
        expected.extend_from_slice(&[0x11; 32]);
        expected.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, b'g', b'e', b't']);
        expected.extend_from_slice(&[0xe8, 3, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0x2a]);
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&[0, 0]);
        assert_eq!(get().encode(), expected);
        assert_eq!(get().hash(), <[u8; 32]>::from(Sha256::digest(&expected)));
    }

    #[test]
    fn logs_changes_message_and_trap_are_encoded_as_documented() {
        let mut changes = ChangeSet::new();
        changes.write([2; 32], b"k".to_vec(), b"vv".to_vec());
        changes.remove([1; 32], b"gone".to_vec());
        let outcome = Outcome {
            status: Status::Trap,
            message: Some("m".into()),
            trap: Some(Trap {
                kind: "exception",
                exception: Some("page_fault"),
                vector: Some(14),
                rip: Some(0x401000),
                address: None,
                in_contract: true,
                message: "m".into(),
            }),
            logs: vec![vec![9], Vec::new()],
            changes,
            ..get()
        };
        let bytes = outcome.encode();
        let le = |v: u64| v.to_le_bytes().to_vec();
        let mut tail = Vec::new();
        tail.extend(le(2)); // two logs
        tail.extend(le(1));
        tail.push(9);
        tail.extend(le(0));
        tail.extend(le(2)); // two changes, contract [1; 32] first
        tail.extend_from_slice(&[1; 32]);
        tail.extend(le(4));
        tail.extend_from_slice(b"gone");
        tail.push(0);
        tail.extend_from_slice(&[2; 32]);
        tail.extend(le(1));
        tail.push(b'k');
        tail.push(1);
        tail.extend(le(2));
        tail.extend_from_slice(b"vv");
        tail.push(1); // message
        tail.extend(le(1));
        tail.push(b'm');
        tail.push(1); // trap
        tail.extend(le(9));
        tail.extend_from_slice(b"exception");
        tail.push(1);
        tail.extend(le(10));
        tail.extend_from_slice(b"page_fault");
        tail.extend_from_slice(&[1, 14, 1]);
        tail.extend(le(0x401000));
        tail.extend_from_slice(&[0, 1]);
        tail.extend(le(1));
        tail.push(b'm');
        let head = 16 + 1 + 32 + 11 + 8 + 8 + 9;
        assert_eq!(bytes[16], 2, "status trap");
        assert_eq!(&bytes[head..], &tail[..]);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = get().hash();
        let mut changes = ChangeSet::new();
        changes.remove([0; 32], Vec::new());
        let changed = [
            Outcome {
                return_data: vec![0x2b],
                ..get()
            },
            Outcome {
                gas_used: 8,
                ..get()
            },
            Outcome {
                gas_limit: 1001,
                ..get()
            },
            Outcome {
                method: "got".into(),
                ..get()
            },
            Outcome {
                code_hash: [0x12; 32],
                ..get()
            },
            Outcome {
                logs: vec![Vec::new()],
                ..get()
            },
            Outcome {
                status: Status::Reverted,
                message: Some(String::new()),
                ..get()
            },
            Outcome { changes, ..get() },
            // Moving a byte between two adjacent fields changes the hash
            // too (lengths make the encoding prefix-free).
            Outcome {
                return_data: Vec::new(),
                logs: vec![vec![0x2a]],
                ..get()
            },
        ];
        for (i, outcome) in changed.iter().enumerate() {
            assert_ne!(outcome.hash(), base, "change {i}");
        }
    }
}
