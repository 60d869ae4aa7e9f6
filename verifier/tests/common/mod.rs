//! Shared helpers of the verifier's integration tests: building small
//! contracts with `gcc` (C, or assembly through the C driver) and `rustc`
//! into `CARGO_TARGET_TMPDIR`, and verifying them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nativm_verifier::{verify, Config, Report, Rule};

/// Flags for every contract built with gcc: a freestanding static non-PIE
/// executable at the default base 0x400000 with no entry point, as
/// `images/build.rs` builds the C examples (without `-O` and `-std`, which
/// each test chooses).
pub const GCC_FLAGS: &[&str] = nativm_images::C_CONTRACT_FLAGS;

/// `CARGO_TARGET_TMPDIR/<sub>`, created.
pub fn work_dir(sub: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(sub);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// The `tests/corpus` directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("corpus")
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {:?}\n{}{}",
            out.status,
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Links `sources` (paths; `.c`, `.s` or `.S`) with gcc, the freestanding
/// [`GCC_FLAGS`] and `extra` flags, into `dir/<name>.elf`, and returns the
/// ELF's bytes. `libs` come after the sources (e.g. `-lgcc`).
pub fn gcc_files(
    dir: &Path,
    name: &str,
    sources: &[PathBuf],
    extra: &[&str],
    libs: &[&str],
) -> Result<Vec<u8>, String> {
    let out = dir.join(format!("{name}.elf"));
    let mut cmd = Command::new("gcc");
    cmd.args(GCC_FLAGS)
        .args(extra)
        .arg("-o")
        .arg(&out)
        .args(sources)
        .args(libs);
    run(&mut cmd, &format!("gcc for {name}"))?;
    std::fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))
}

/// Writes `source` to `dir/<name>.<ext>` (`c` or `s`) and links it as
/// [`gcc_files`] does.
pub fn gcc_source(
    dir: &Path,
    name: &str,
    ext: &str,
    source: &str,
    extra: &[&str],
) -> Result<Vec<u8>, String> {
    let src = dir.join(format!("{name}.{ext}"));
    std::fs::write(&src, source).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    gcc_files(dir, name, &[src], extra, &[])
}

/// An assembly contract with one method `m` (global `STT_FUNC`) whose body
/// is `body` (Intel syntax) followed by `ret`.
pub fn asm_method(body: &str) -> String {
    format!(
        ".intel_syntax noprefix\n.text\n.globl m\n.type m,@function\nm:\n{body}\n    ret\n.size m, .-m\n"
    )
}

/// Builds [`asm_method`]`(body)` into `dir/<name>.elf`.
pub fn asm(dir: &Path, name: &str, body: &str) -> Vec<u8> {
    gcc_source(dir, name, "s", &asm_method(body), &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// Verifies with the default configuration.
pub fn check(bytes: &[u8]) -> Report {
    verify(bytes, &Config::default())
}

/// The distinct (rule, class) pairs of a report, sorted.
pub fn classes(report: &Report) -> Vec<(Rule, &'static str)> {
    let mut v: Vec<(Rule, &'static str)> = report
        .violations
        .iter()
        .map(|v| (v.rule, v.class))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// rustc flags for a freestanding static contract, as `images/build.rs`
/// uses (system `cc` and GNU ld, base 0x400000, no entry point).
/// rustc flags for the test programs: crate settings, then the contract
/// flags `images/build.rs` uses (rustc >= 1.90, whose default linker would
/// put the image at 0x200000, hence the no-lld pair).
fn rustc_flags() -> Vec<&'static str> {
    let mut flags = vec![
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "-C",
        "panic=abort",
    ];
    flags.extend_from_slice(nativm_images::RUST_CONTRACT_FLAGS);
    flags.extend_from_slice(nativm_images::RUST_CONTRACT_FLAGS_NO_LLD);
    flags
}

/// Builds `tests/corpus/program.rs` with rustc.
pub fn build_rust(name: &str, extra: &[&str]) -> Result<Vec<u8>, String> {
    let dir = work_dir("compiler-output");
    let out = dir.join(format!("{name}.elf"));
    let mut cmd = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    cmd.args(rustc_flags())
        .args(extra)
        .arg("-o")
        .arg(&out)
        .arg(corpus_dir().join("program.rs"));
    let o = cmd.output().map_err(|e| format!("cannot run rustc: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "rustc for {name} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}
