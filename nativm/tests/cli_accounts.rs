//! `nativm deploy` (addresses), `run ADDRESS`, `state root|get --proof`
//! and `block`, run as processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn contract(name: &str) -> String {
    let path = nativm_images::contract_path(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build` first",
        path.display()
    );
    path.to_str().unwrap().to_string()
}

fn nativm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nativm"))
        .args(args)
        .output()
        .expect("running nativm")
}

fn ok_json(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn deploy(state: &Path, name: &str, salt: &str) -> String {
    let out = nativm(&[
        "deploy",
        &contract(name),
        "--state",
        state.to_str().unwrap(),
        "--salt",
        salt,
        "--deployer",
        "0d",
        "--json",
    ]);
    let v = ok_json(&out);
    let address = v["address"].as_str().unwrap().to_string();
    let code_hash = hex::decode(v["code_hash"].as_str().unwrap()).unwrap();
    let mut deployer = [0u8; 32];
    deployer[31] = 0x0d;
    let mut salt_bytes = [0u8; 32];
    let s = hex::decode(salt).unwrap();
    salt_bytes[32 - s.len()..].copy_from_slice(&s);
    let expected = nativm::address_of(&deployer, &salt_bytes, &code_hash.try_into().unwrap());
    assert_eq!(address, hex::encode(expected), "the documented derivation");
    assert!(v["code_bytes"].as_u64().unwrap() > 0);
    address
}

fn root(state: &Path) -> String {
    stdout(&nativm(&[
        "state",
        "root",
        "--state",
        state.to_str().unwrap(),
    ]))
}

/// A block of `n` counter increments and a proxy call.
fn write_block(dir: &Path, counter: &str, proxy: &str, n: usize) -> PathBuf {
    let mut forward = hex::decode(counter).unwrap();
    forward.extend(1_000_000u64.to_le_bytes());
    forward.push(9);
    forward.extend(b"increment");
    forward.extend(2u64.to_le_bytes());
    let mut txs: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "to": counter, "method": "increment", "input": "0100000000000000",
                "gas": 1_000_000, "caller": format!("{:064x}", i),
            })
        })
        .collect();
    txs.push(serde_json::json!({
        "to": proxy, "method": "forward", "input": hex::encode(&forward), "gas": 5_000_000,
    }));
    // One that reverts: bad input length.
    txs.push(
        serde_json::json!({"to": counter, "method": "increment", "input": "01", "gas": 1_000_000}),
    );
    let path = dir.join("block.json");
    std::fs::write(
        &path,
        serde_json::json!({ "transactions": txs }).to_string(),
    )
    .unwrap();
    path
}

#[test]
fn deploy_block_and_root_agree_across_state_files_and_workers() {
    let dir = tempfile::tempdir().unwrap();
    let mut roots = Vec::new();
    for workers in ["1", "2"] {
        let state = dir.path().join(format!("state-{workers}.redb"));
        let counter = deploy(&state, "counter", "01");
        let other = deploy(&state, "counter", "02");
        assert_ne!(counter, other, "two addresses, one code hash");
        let proxy = deploy(&state, "proxy", "01");
        let before = root(&state);
        assert_eq!(before.len(), 64);
        let block = write_block(dir.path(), &counter, &proxy, 50);
        let out = nativm(&[
            "block",
            block.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--workers",
            workers,
            "--json",
            "--access-sets",
        ]);
        let v = ok_json(&out);
        let count_key = serde_json::json!({"contract": counter, "key": "636f756e74"});
        let r1 = &v["receipts"][1];
        assert!(
            r1["writes"].as_array().unwrap().contains(&count_key),
            "{r1}"
        );
        let read = r1["reads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "636f756e74")
            .unwrap();
        assert_eq!(
            read["written_by"], 0,
            "transaction 1 read transaction 0's count"
        );
        let receipts = v["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), 52);
        assert_eq!(
            receipts[49]["return_data"], "3200000000000000",
            "in block order"
        );
        assert_eq!(
            receipts[50]["return_data"], "3400000000000000",
            "the proxy's callee"
        );
        assert_eq!(receipts[51]["status"], "reverted");
        for r in receipts {
            assert!(r["gas_used"].as_u64().unwrap() > 0);
            assert!(r["vm_exits"].as_u64().unwrap() >= 1);
            assert!(r["logs"].is_array());
        }
        assert_eq!(v["previous_root"], before.as_str());
        assert_eq!(v["state_root"], root(&state).as_str());
        assert!(v["txs_per_sec"].as_f64().unwrap() > 0.0);
        // Run by address, in a later process.
        let out = nativm(&[
            "run",
            &counter,
            "get",
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(ok_json(&out)["return_data"], "3400000000000000");
        let out = nativm(&[
            "run",
            &other,
            "get",
            "--state",
            state.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(
            ok_json(&out)["return_data"],
            "0000000000000000",
            "its own storage"
        );
        roots.push(root(&state));
    }
    assert_eq!(roots[0], roots[1], "1 and 2 workers, two state files");
}

#[test]
fn state_get_proves_values_and_absence_against_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.redb");
    let s = state.to_str().unwrap();
    let counter = deploy(&state, "counter", "00");
    let out = nativm(&[
        "run",
        &counter,
        "increment",
        "--input",
        "0700000000000000",
        "--state",
        s,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let root = hex::decode(root(&state)).unwrap();
    let root: [u8; 32] = root.try_into().unwrap();
    for (key, value) in [("636f756e74", Some("0700000000000000")), ("6e6f6e65", None)] {
        let v = ok_json(&nativm(&[
            "state", "get", &counter, key, "--state", s, "--proof", "--json",
        ]));
        assert_eq!(v["value"].as_str(), value);
        assert_eq!(v["root"], hex::encode(root));
        let proof = hex::decode(v["proof"].as_str().unwrap()).unwrap();
        let proof = nativm::StateProof::from_bytes(&proof).unwrap();
        assert_eq!(proof.value.as_ref().map(hex::encode).as_deref(), value);
        proof.verify(&root).unwrap();
        let mut forged =
            nativm::StateProof::from_bytes(&hex::decode(v["proof"].as_str().unwrap()).unwrap())
                .unwrap();
        forged.value = Some(b"forged".to_vec());
        assert!(forged.verify(&root).is_err(), "{key}: a forged value fails");
    }
    // A failed transaction leaves the root unchanged.
    let out = nativm(&["run", &counter, "increment", "--input", "07", "--state", s]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(hex::decode(self::root(&state)).unwrap(), root);
    let dump = stdout(&nativm(&["state", "dump", "--state", s]));
    assert!(
        dump.contains(&counter) && dump.contains("\"count\""),
        "{dump}"
    );
    // Bad input: exit 2 naming what was wrong.
    let out = nativm(&["state", "get", "12", "00", "--state", s]);
    assert_eq!(out.status.code(), Some(2));
    let out = nativm(&["run", &"42".repeat(32), "get", "--state", s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account at address"));
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"transactions": [{"to": "12", "method": "get", "gas": 1}]}"#,
    )
    .unwrap();
    let out = nativm(&["block", bad.to_str().unwrap(), "--state", s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("transaction 0"));
}
