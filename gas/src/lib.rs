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
    prepare_parsed(elf, config).map(|(translation, _)| translation)
}

/// Verifies `elf` under `config` and, if it passes, translates its code,
/// returning the translation and what the verifier parsed (for the
/// loader): the file is parsed once.
///
/// Errors: as [`prepare`].
pub fn prepare_parsed<'a>(
    elf: &'a [u8],
    config: &nativm_verifier::Config,
) -> Result<(Translation, nativm_verifier::elf::Parsed<'a>), PrepareError> {
    let (report, parsed) = nativm_verifier::verify_and_parse(elf, config);
    if !report.violations.is_empty() {
        return Err(PrepareError::Rejected(Box::new(report)));
    }
    let translation = translate(&parsed.code, &parsed.functions)?;
    Ok((translation, parsed))
}
