//! The command line refuses nonsensical limits by name (exit 2), leaves no
//! state file behind for a refused deploy, and ends quietly on a closed
//! pipe.

use std::process::{Command, Output, Stdio};

fn nativm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nativm"))
        .args(args)
        .output()
        .expect("running nativm")
}

fn fib() -> String {
    nativm_images::contract_path("fib")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn nonsensical_limits_exit_2_naming_the_flag() {
    for (flag, value) in [
        ("--timeout-ms", "0"),
        ("--stack-size", "0"),
        ("--stack-size", "4097"),
        ("--heap-size", "1099511627776"),
    ] {
        let out = nativm(&[
            "run",
            &fib(),
            "fib",
            "--input",
            "0000000000000000",
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
}

#[test]
fn a_refused_deploy_leaves_no_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let not_elf = dir.path().join("not.elf");
    std::fs::write(&not_elf, b"not a contract").unwrap();
    let out = nativm(&[
        "deploy",
        not_elf.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !state.exists(),
        "a refused contract created {}",
        state.display()
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nativm"))
        .args([
            "verify",
            "--verbose",
            &nativm_images::contract_path("sha256").to_string_lossy(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the pipe before nativm (still verifying) writes to it, as
    // `head` does once it has what it wants.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "exit 101 is a panic: {err}");
}
