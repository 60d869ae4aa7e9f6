//! A block is atomic under SIGKILL: a `nativm block` process killed at any
//! moment leaves the state file at the root before the block or at the
//! root after it, never between.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

fn nativm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nativm"))
        .args(args)
        .output()
        .expect("running nativm")
}

fn root(state: &Path) -> String {
    let out = nativm(&["state", "root", "--state", state.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_killed_block_leaves_the_old_root_or_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.redb");
    let token = nativm_images::contract_path("token");
    let out = nativm(&[
        "deploy",
        token.to_str().unwrap(),
        "--state",
        base.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let address = v["address"].as_str().unwrap().to_string();
    // 3 000 mints to distinct accounts: 3 000 new keys, a large commit.
    let txs: Vec<serde_json::Value> = (0..3_000u32)
        .map(|i| {
            let mut input = format!("{i:064x}");
            input.push_str("0100000000000000");
            serde_json::json!({"to": address, "method": "mint", "input": input, "gas": 10_000_000})
        })
        .collect();
    let block = dir.path().join("block.json");
    std::fs::write(
        &block,
        serde_json::json!({ "transactions": txs }).to_string(),
    )
    .unwrap();
    let before = root(&base);
    // The root after the whole block, from an uninterrupted run on a copy.
    let full = dir.path().join("full.redb");
    std::fs::copy(&base, &full).unwrap();
    let started = Instant::now();
    let out = nativm(&[
        "block",
        block.to_str().unwrap(),
        "--state",
        full.to_str().unwrap(),
        "--workers",
        "2",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duration = started.elapsed();
    let after = root(&full);
    assert_ne!(before, after);
    let mut outcomes = (0, 0);
    for k in 0..12u32 {
        let state = dir.path().join(format!("kill-{k}.redb"));
        std::fs::copy(&base, &state).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_nativm"))
            .args([
                "block",
                block.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--workers",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the whole run, its last tenth (the commit)
        // most densely.
        let fraction = if k < 6 {
            f64::from(k) / 6.0
        } else {
            0.9 + f64::from(k - 6) * 0.02
        };
        std::thread::sleep(duration.mul_f64(fraction));
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGKILL) };
        child.wait().unwrap();
        let got = root(&state);
        assert!(
            got == before || got == after,
            "kill {k} at {fraction:.2}: root {got} is neither"
        );
        if got == before {
            outcomes.0 += 1
        } else {
            outcomes.1 += 1
        }
    }
    eprintln!(
        "killed runs: {} at the old root, {} at the new root",
        outcomes.0, outcomes.1
    );
    assert!(outcomes.0 > 0, "some kills came before the commit");
}
