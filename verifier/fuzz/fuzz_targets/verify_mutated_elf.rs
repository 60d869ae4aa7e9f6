//! Real contract ELFs mutated by libFuzzer. Seed the corpus with the example
//! contracts (see README.md: `cp ../../target/contracts/*.elf corpus/verify_mutated_elf/`);
//! libFuzzer then mutates whole files. Inputs that do not start with the ELF
//! magic are instead spliced over the `.text` of the embedded sha256 contract,
//! so even an empty corpus exercises rules 2-5 on well-formed ELF structure.
#![no_main]

use libfuzzer_sys::fuzz_target;

static SHA256: &[u8] = include_bytes!("../../../target/contracts/sha256.elf");

fn verify(bytes: &[u8]) {
    let config = nativm_verifier::Config::default();
    let report = nativm_verifier::verify(bytes, &config);
    assert_eq!(report.is_ok(), report.violations.is_empty());
    // AVX2 mode takes other allow-list paths.
    let avx = nativm_verifier::Config {
        allow_avx2: true,
        ..config
    };
    let _ = nativm_verifier::verify(bytes, &avx);
}

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"\x7fELF") {
        verify(data);
        return;
    }
    // Splice: the first 4 bytes pick an offset in the file (biased to the
    // code at 0x1000..), the rest overwrites bytes there.
    if data.len() < 4 {
        return;
    }
    let mut elf = SHA256.to_vec();
    let pick = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let offset = if pick & 1 == 0 {
        0x1000 + (pick >> 1) % (elf.len() - 0x1000)
    } else {
        (pick >> 1) % elf.len()
    };
    let patch = &data[4..];
    let end = (offset + patch.len()).min(elf.len());
    elf[offset..end].copy_from_slice(&patch[..end - offset]);
    verify(&elf);
});
