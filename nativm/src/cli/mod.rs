//! Subcommands of the `nativm` command about accounts, state and blocks:
//! `state root|get|dump` and `block`.

pub mod block;
pub mod state;

/// A failure with its exit code (2 bad input, 3 host failure).
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// One line (or a report) for stderr.
    pub message: String,
}

/// Exit code for bad usage or input (host failures, 3, come from
/// `crate::failure`).
pub const EXIT_BAD_INPUT: u8 = 2;

/// A bad-input failure.
pub fn bad_input(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_BAD_INPUT,
        message: message.into(),
    }
}

/// Decodes hex (optional `0x`) for flag or argument `what`.
pub fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|e| bad_input(format!("{what}: not hex ({e}): {text:?}")))
}

/// Decodes exactly 32 bytes of hex for `what`.
pub fn parse_hex32(what: &str, text: &str) -> Result<[u8; 32], Failure> {
    parse_hex(what, text)?.try_into().map_err(|v: Vec<u8>| {
        bad_input(format!(
            "{what} must be 32 bytes (64 hex digits), got {} bytes",
            v.len()
        ))
    })
}

/// Decodes up to 32 bytes of hex for `what` as a 32-byte value, zeros on
/// the left (a big-endian number: `01` is 31 zero bytes and 0x01).
pub fn parse_hex_left_padded(what: &str, text: &str) -> Result<[u8; 32], Failure> {
    let bytes = parse_hex(what, text)?;
    if bytes.len() > 32 {
        return Err(bad_input(format!(
            "{what} must be at most 32 bytes (64 hex digits), got {} bytes",
            bytes.len()
        )));
    }
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(out)
}
