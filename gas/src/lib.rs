//! # nativm-gas: deterministic gas
//!
//! * [`cost`]: the versioned cost model: static per-instruction costs, the
//!   `rep` rule, host-call costs, the default and largest gas limits.
//! * [`translate`](mod@translate): turns verified contract code into
//!   prepared code with a gas charge at the head of every basic block,
//!   checked indirect branches and returns, and fixed flags at indirect
//!   transfers.
//!
//! [`prepare`] runs the verifier and the translation on an ELF file.
//!
//! ## How the counter works at run time
//!
//! The gas left is the sum of four signed 64-bit counters in MMX registers
//! `mm0`..`mm3` (`translate::COUNTERS`): the trusted runtime page loads the
//! call's gas limit into `mm0` and zeroes the others. Block charges only
//! subtract, so "went below zero at some point" equals "is below zero at the
//! next check"; the host checks before servicing every host call, at the
//! end of the call, after a trap, and at a periodic backstop. A call whose
//! counter is below zero at any check ends `out_of_gas` with its whole limit
//! used: the outcome and `gas_used` are deterministic, only the moment the
//! overrun is noticed is not.

pub mod cost;
pub mod translate;

pub use cost::{COST_TABLE_VERSION, DEFAULT_GAS_LIMIT, MAX_GAS_LIMIT};
pub use translate::{
    translate, CheckKind, CheckSite, PreparedMethod, TranslateError, Translation, TranslationStats,
    TRANSLATION_VERSION,
};

/// Why [`prepare`] produced no translation.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The verifier rejected the contract; the report says why.
    #[error("the contract failed verification with {} violation(s)", .0.violations.len())]
    Rejected(Box<nativm_verifier::Report>),
    /// Verified, but the translation failed.
    #[error(transparent)]
    Translate(#[from] TranslateError),
}

/// Verifies `elf` under `config` and, if it passes, translates its code.
///
/// Errors: [`PrepareError::Rejected`] with the full report if verification
/// finds any violation; [`PrepareError::Translate`] if translation fails.
pub fn prepare(elf: &[u8], config: &nativm_verifier::Config) -> Result<Translation, PrepareError> {
    prepare_parsed(elf, config).map(|prepared| prepared.translation)
}

/// What [`prepare_parsed`] returns: the translation, what the verifier
/// parsed (for the loader: the file is parsed once), and the time each
/// step took.
#[derive(Debug)]
pub struct Prepared<'a> {
    /// The translation of the contract's code.
    pub translation: Translation,
    /// The verifier's rule-1 parse (segments, code regions, symbols).
    pub parsed: nativm_verifier::elf::Parsed<'a>,
    /// Time verification took (the parse included), in nanoseconds.
    pub verify_ns: u64,
    /// Time the translation took, in nanoseconds.
    pub translate_ns: u64,
}

/// Verifies `elf` under `config` and, if it passes, translates its code,
/// returning the translation with what the verifier parsed and the time of
/// each step: the one place where a contract is verified and translated
/// (`nativm`'s prepared images are made here too).
///
/// Errors: as [`prepare`].
pub fn prepare_parsed<'a>(
    elf: &'a [u8],
    config: &nativm_verifier::Config,
) -> Result<Prepared<'a>, PrepareError> {
    let started = std::time::Instant::now();
    let (report, parsed) = nativm_verifier::verify_and_parse(elf, config);
    if !report.violations.is_empty() {
        return Err(PrepareError::Rejected(Box::new(report)));
    }
    let verified = std::time::Instant::now();
    let translation = translate(&parsed.code, &parsed.functions)?;
    Ok(Prepared {
        translation,
        parsed,
        verify_ns: u64::try_from((verified - started).as_nanos()).unwrap_or(u64::MAX),
        translate_ns: u64::try_from(verified.elapsed().as_nanos()).unwrap_or(u64::MAX),
    })
}
