//! Whole-path fuzzing of nativm: generated contracts (ELF in) to receipts
//! (out). See `README.md`.

pub mod elf;
pub mod gen;
pub mod harness;
pub mod probe;
