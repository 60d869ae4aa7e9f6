//! The `nativm` command, run as a process: receipts, JSON, exit codes and
//! state that persists between processes through `--state`.

use std::path::PathBuf;
use std::process::{Command, Output};

use sha2::Digest;

fn contract(name: &str) -> PathBuf {
    let path = nativm_images::contract_path(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build` first",
        path.display()
    );
    path
}

fn nativm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nativm"))
        .args(args)
        .output()
        .expect("running nativm")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn fib_25_prints_an_ok_json_receipt() {
    let fib = contract("fib");
    let out = nativm(&[
        "run",
        fib.to_str().unwrap(),
        "fib",
        "--input",
        "1900000000000000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let receipt = json(&out);
    assert_eq!(receipt["status"], "ok");
    assert_eq!(receipt["return_data"], "1125010000000000");
    assert!(receipt["logs"].as_array().unwrap().is_empty());
    assert!(receipt["vm_exits"].as_u64().unwrap() >= 1);
    assert!(receipt["wall_time_ns"].as_u64().unwrap() > 0);
}

#[test]
fn the_outcome_hash_is_the_same_in_every_process_and_covers_state_changes() {
    let token = contract("token");
    let mint = format!("{}{}", "aa".repeat(32), "e803000000000000");
    let run = || {
        let out = nativm(&[
            "run",
            token.to_str().unwrap(),
            "mint",
            "--input",
            &mint,
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json(&out)
    };
    let (first, second) = (run(), run());
    let hash = first["outcome_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64, "{first}");
    assert_eq!(first["outcome_hash"], second["outcome_hash"]);
    let changes = first["changes"].as_array().unwrap();
    assert_eq!(
        changes.len() as u64,
        first["state_changes"].as_u64().unwrap()
    );
    assert!(!changes.is_empty());
    assert_eq!(changes[0]["contract"], first["code_hash"]);
    assert!(changes[0]["key"]
        .as_str()
        .unwrap()
        .ends_with(&"aa".repeat(32)));
}

#[test]
fn sha256_of_abc() {
    let out = nativm(&[
        "run",
        contract("sha256").to_str().unwrap(),
        "digest",
        "--input",
        "616263",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json(&out)["return_data"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn input_file_and_text_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("n");
    std::fs::write(&input, 10u64.to_le_bytes()).unwrap();
    let out = nativm(&[
        "run",
        contract("fib").to_str().unwrap(),
        "fib",
        "--input-file",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("status:        ok") && text.contains("return_data:   3700000000000000"),
        "{text}"
    );
}

#[test]
fn token_state_persists_between_processes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let state = state.to_str().unwrap();
    let token = contract("token");
    let token = token.to_str().unwrap();
    let (alice, bob) = ("aa".repeat(32), "bb".repeat(32));
    let run = |method: &str, input: String, caller: &str| {
        nativm(&[
            "run", token, method, "--input", &input, "--caller", caller, "--state", state, "--json",
        ])
    };
    let zero = "00".repeat(32);
    let minted = run("mint", format!("{alice}e803000000000000"), &zero);
    assert_eq!(minted.status.code(), Some(0), "{}", stderr(&minted));
    let balance = |who: &str| {
        json(&run("balance_of", who.to_string(), &zero))["return_data"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        balance(&alice),
        "e803000000000000",
        "the second process sees the first one's mint"
    );

    let refused = run("transfer", format!("{bob}e903000000000000"), &alice);
    assert_eq!(refused.status.code(), Some(1), "a reverted call exits 1");
    let receipt = json(&refused);
    assert_eq!(receipt["status"], "reverted");
    assert_eq!(receipt["message"], "insufficient balance");
    assert_eq!(
        (balance(&alice), balance(&bob)),
        ("e803000000000000".into(), "0000000000000000".into())
    );

    let moved = run("transfer", format!("{bob}6400000000000000"), &alice);
    assert_eq!(moved.status.code(), Some(0));
    assert_eq!(
        (balance(&alice), balance(&bob)),
        ("8403000000000000".into(), "6400000000000000".into())
    );
}

#[test]
fn a_trap_exits_1_with_its_exception() {
    let out = nativm(&[
        "run",
        contract("faults").to_str().unwrap(),
        "divide_by_zero",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let receipt = json(&out);
    assert_eq!(receipt["status"], "trap");
    assert_eq!(receipt["trap"]["exception"], "divide_error");
    assert!(receipt["trap"]["rip"].as_str().unwrap().starts_with("0x40"));
}

#[test]
fn a_timeout_is_a_host_failure_exit_3_without_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let faults = contract("faults");
    let out = nativm(&[
        "run",
        faults.to_str().unwrap(),
        "write_then_spin",
        "--input",
        "6c6f7374",
        "--timeout-ms",
        "100",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no receipt is printed");
    let err = stderr(&out);
    assert!(
        err.contains("wall-clock limit of 100 ms") && err.contains("nothing committed"),
        "{err}"
    );
    // Nothing of the call was committed.
    let code_hash: [u8; 32] = sha2::Sha256::digest(std::fs::read(&faults).unwrap()).into();
    let store = nativm::StateDb::open(&state).unwrap();
    assert_eq!(store.get(&code_hash, b"k").unwrap(), None);
    let help = nativm(&["--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("ran past --timeout-ms"),
        "--help documents the exit code"
    );
}

#[test]
fn gas_limit_and_out_of_gas() {
    let fib = contract("fib");
    // fib(25) uses a fixed, small amount of gas.
    let out = nativm(&[
        "run",
        fib.to_str().unwrap(),
        "fib",
        "--input",
        "1900000000000000",
        "--json",
    ]);
    let used = json(&out)["gas_used"].as_u64().unwrap();
    assert!(used > 0 && used < 10_000, "{used}");
    let out = nativm(&[
        "run",
        fib.to_str().unwrap(),
        "fib",
        "--input",
        "1900000000000000",
        "--gas",
        &used.to_string(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json(&out)["gas_used"].as_u64(), Some(used));
    let out = nativm(&[
        "run",
        fib.to_str().unwrap(),
        "fib",
        "--input",
        "1900000000000000",
        "--gas",
        &(used - 1).to_string(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let receipt = json(&out);
    assert_eq!(receipt["status"], "out_of_gas");
    assert_eq!(receipt["gas_used"].as_u64(), Some(used - 1));
    assert_eq!(receipt["return_data"], "");
}

#[test]
fn deploy_then_run_by_code_hash() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let state = state.to_str().unwrap();
    let token = contract("token");
    let out = nativm(&["deploy", token.to_str().unwrap(), "--state", state]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(hash.len(), 64, "{hash}");
    assert!(stderr(&out).contains("prepared now"), "{}", stderr(&out));
    // Deploying again finds the artifact in the state file.
    let out = nativm(&[
        "deploy",
        token.to_str().unwrap(),
        "--state",
        state,
        "--json",
    ]);
    assert_eq!(json(&out)["prepared"], "cached");
    assert_eq!(json(&out)["code_hash"], hash.as_str());
    // The sizes and times of the preparation (issue 13).
    let deployed = json(&out);
    for field in [
        "code_bytes",
        "prepared_bytes",
        "table_bytes",
        "verify_ns",
        "translate_ns",
    ] {
        assert!(deployed[field].as_u64().is_some(), "{field}: {deployed}");
    }
    assert!(deployed["table_bytes"].as_u64() > Some(0), "{deployed}");
    assert!(deployed["prepared_bytes"].as_u64() > deployed["code_bytes"].as_u64());
    // Run by code hash, in later processes, against the same state.
    let mint = format!("{}{}", "aa".repeat(32), "0500000000000000");
    let out = nativm(&[
        "run", &hash, "mint", "--input", &mint, "--state", state, "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = nativm(&[
        "run",
        &hash,
        "balance_of",
        "--input",
        &"aa".repeat(32),
        "--state",
        state,
        "--json",
    ]);
    assert_eq!(json(&out)["return_data"], "0500000000000000");
    // A code hash needs its state file, and must have been deployed there.
    let out = nativm(&["run", &hash, "balance_of"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--state"), "{}", stderr(&out));
    let other = "42".repeat(32);
    let out = nativm(&["run", &other, "balance_of", "--state", state]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no contract with code hash"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_usage_and_input_exit_2_with_one_line() {
    let fib = contract("fib");
    let fib = fib.to_str().unwrap();
    let not_elf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(not_elf.path(), b"#!/bin/sh\necho not a contract\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "/no/such/contract.elf", "fib"],
            "/no/such/contract.elf",
        ),
        (
            vec!["run", not_elf.path().to_str().unwrap(), "fib"],
            "not an ELF",
        ),
        (vec!["run", fib, "fibonacci"], "unknown method `fibonacci`"),
        (vec!["run", fib, "fib", "--input", "zz"], "not hex"),
        (vec!["run", fib, "fib", "--caller", "abcd"], "32 bytes"),
        (
            vec!["run", fib, "fib", "--input-file", "/no/such/input"],
            "/no/such/input",
        ),
        (vec!["run", fib], "METHOD"),
    ];
    for (args, expected) in cases {
        let out = nativm(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(expected),
            "{args:?}: {err:?} lacks {expected:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed a receipt");
    }
}

#[test]
fn a_non_redb_state_file_is_refused_without_damage() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"precious data that is not a database").unwrap();
    let out = nativm(&[
        "run",
        contract("fib").to_str().unwrap(),
        "fib",
        "--input",
        "0100000000000000",
        "--state",
        file.path().to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(file.path().to_str().unwrap()),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(file.path()).unwrap(),
        b"precious data that is not a database"
    );
}

/// A contract that reads the time-stamp counter, built with gcc.
fn rdtsc_contract(dir: &std::path::Path) -> PathBuf {
    let src = dir.join("clock.c");
    let out = dir.join("clock.elf");
    std::fs::write(
        &src,
        "void now(void) { unsigned lo, hi; __asm__ volatile(\"rdtsc\" : \"=a\"(lo), \"=d\"(hi)); (void)lo; (void)hi; }\n",
    )
    .unwrap();
    let status = Command::new("gcc")
        .arg("-O2")
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc");
    assert!(status.success());
    out
}

#[test]
fn verify_accepts_examples_with_a_one_line_summary() {
    for name in ["fib", "sha256", "token", "counter", "echo", "faults"] {
        let out = nativm(&["verify", contract(name).to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("verified"), "{text}");
    }
}

#[test]
fn verify_rejects_rdtsc_with_the_full_report_and_run_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = rdtsc_contract(dir.path());
    let clock = clock.to_str().unwrap();
    let out = nativm(&["verify", clock]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rejected")
            && text.contains("allow-list/time")
            && text.contains("rdtsc")
            && text.contains("<now"),
        "{text}"
    );
    let out = nativm(&["verify", clock, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["violations"][0]["rule"], "allow-list");
    assert_eq!(report["violations"][0]["class"], "time");
    assert_eq!(report["violations"][0]["bytes"], "0f31");

    let out = nativm(&["run", clock, "now"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "run refuses a contract that does not verify"
    );
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("does not verify") && err.contains("rdtsc"),
        "{err}"
    );
}

#[test]
fn verify_of_an_unreadable_file_exits_2() {
    let out = nativm(&["verify", "/no/such/file.elf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/no/such/file.elf"));
}

#[test]
fn bench_reports_every_field_in_json() {
    let out = nativm(&[
        "bench",
        contract("fib").to_str().unwrap(),
        "fib",
        "--input",
        "0a00000000000000",
        "--calls",
        "200",
        "--workers",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = json(&out);
    for field in [
        "calls_per_sec",
        "p50_ns",
        "p99_ns",
        "p999_ns",
        "exits_per_call",
        "ioctls_per_call",
        "exit_roundtrip_ns",
        "reset_ns_per_call",
        "pages_reset_per_call",
    ] {
        assert!(
            r[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {}",
            r[field]
        );
    }
    assert_eq!(r["calls"], 200);
    assert_eq!(r["workers"], 2);
    assert_eq!(r["failed_calls"], 0);
    assert_eq!(r["warm_calls"], 200, "prewarmed: no call creates a VM");
    // Besides the backstop's timer interruptions (more under load, none
    // in a quiet run), fib costs one exit: set_return is served in the
    // guest.
    let exits = r["exits_per_call"].as_f64().unwrap();
    let backstop = r["backstop_exits_per_call"].as_f64().unwrap();
    assert!(
        (exits - backstop - 1.0).abs() < 1e-9,
        "fib: one exit besides {backstop} backstop exits per call, got {exits}"
    );
}

#[test]
fn bench_refuses_bad_arguments() {
    let out = nativm(&[
        "bench",
        contract("fib").to_str().unwrap(),
        "fib",
        "--calls",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = nativm(&["bench", contract("fib").to_str().unwrap(), "nope"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "unknown method: {}",
        stderr(&out)
    );
}
