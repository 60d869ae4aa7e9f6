//! Builds the guest shim (`../guest-shim`) with its own flags and target
//! directory and hands the ELF to the crate as `$OUT_DIR/guest-shim.elf`.
//!
//! The shim runs in guest ring 0, where SSE does not work on nested KVM, so
//! it is built with SSE and MMX disabled. A nested cargo must use its own
//! `--target-dir`: the outer build holds the lock on `target/`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let shim_dir = manifest_dir.join("../guest-shim");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out_dir.join("guest-shim-target");
    let linker_script = shim_dir.join("shim.ld");

    for path in ["src", "shim.ld", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", shim_dir.join(path).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("../abi/src").display()
    );

    let rustflags = [
        "-C target-feature=-sse,-sse2,-mmx,+soft-float".to_string(),
        "-C relocation-model=static".to_string(),
        "-C link-arg=-nostdlib".to_string(),
        "-C link-arg=-static".to_string(),
        "-C link-arg=-no-pie".to_string(),
        "-C link-arg=-Wl,--build-id=none".to_string(),
        format!("-C link-arg=-T{}", linker_script.display()),
    ]
    .join(" ");

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(shim_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (key, _) in env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key == "RUSTFLAGS"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUSTFLAGS", rustflags);
    let output = cmd
        .output()
        .expect("failed to run cargo for the guest shim");
    if !output.status.success() {
        panic!(
            "building the guest shim failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let elf = target_dir.join("release/nativm-guest-shim");
    std::fs::copy(&elf, out_dir.join("guest-shim.elf")).expect("copy guest shim ELF");
}
