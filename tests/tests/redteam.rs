//! The red-team suite: every attack contract in `tests/redteam/` (one file
//! each, GNU assembler `.S` or C) is built with gcc, run through the public
//! API, and its outcome compared with the `expected:` line of its header.
//!
//! Header lines (in the file's first comment):
//!
//! * `expected: <outcome>`: `rejected <verifier class>`, `trap <trap name>`,
//!   `ok <return data hex>` (`ok` alone for empty return data),
//!   `out_of_gas` or `reverted`;
//! * `check: <outcome>` (optional): the outcome of the contract's `check`
//!   method, called on the same warm guest right after each `attack`;
//! * `min-violations: N` (optional, with `rejected`): the report holds at
//!   least N violations (one per hidden encoding);
//! * `message: <text>` (optional): the trap message of every attack call
//!   contains this text (e.g. the target a failed check names);
//! * `objcopy: <args>` (optional): an `objcopy` run on the linked ELF
//!   (e.g. to rewrite section flags) before `--localize-hidden`.
//!
//! Every contract is linked with `support/honest.S`, whose `honest` method
//! returns a digest of everything a call can observe (writable segments,
//! heap, stack, return buffer, registers, XMM, MXCSR). Its result on a
//! fresh guest is the pristine reference. For each attack that loads:
//!
//! 1. on the test thread (one engine): honest (fresh guest), then twice
//!    `attack` (each warm, right after an ok honest call on the same guest),
//!    each followed by `check`, `honest` (must be pristine) and the other
//!    honest contract (`support/honest_other.S`: `fib` and its `honest`);
//!    then `attack` twice in a row and honest again;
//! 2. on an `Executor` with 2 workers, prewarmed: rounds of concurrent
//!    honest calls (both contracts), then two concurrent attacks, then
//!    concurrent honest calls again, which must all be pristine.
//!
//! Every attack call must give the same outcome, which must be the
//! expected one. `REDTEAM_FILTER=<substring>` runs a subset;
//! `REDTEAM_VERBOSE=1` prints each attack's trap message. The table of
//! results is printed and written to `<CARGO_TARGET_TMPDIR>/redteam/report.txt`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nativm::{
    CallOptions, Engine, EngineConfig, Error, Executor, Module, Receipt, StateDb, Status,
};

/// Gas limit of attack calls (endless loops end at it).
const ATTACK_GAS: u64 = 20_000_000;
/// Gas limit of honest calls (the digest hashes ~18 MiB).
const HONEST_GAS: u64 = 400_000_000;
/// Caller identity of every call (the host writes it for `caller`).
const CALLER: [u8; 32] = [0x5a; 32];
/// Input of every call.
const INPUT: &[u8] = b"redteam-input";

/// The one mapping from a receipt to an outcome string (`ok <hex>`,
/// `reverted`, `out_of_gas`, `trap <name>`; a timeout is an `Err`, see
/// [`observed`]). Every field of the
/// receipt the suite looks at is read here.
fn outcome(r: &Receipt) -> String {
    match r.outcome.status {
        Status::Ok if r.outcome.return_data.is_empty() => "ok".to_string(),
        Status::Ok => format!("ok {}", hex::encode(&r.outcome.return_data)),
        Status::Reverted => "reverted".to_string(),
        Status::OutOfGas => "out_of_gas".to_string(),
        Status::Trap => {
            let name = r
                .outcome
                .trap
                .as_ref()
                .map(|t| t.exception.unwrap_or(t.kind))
                .unwrap_or("?");
            format!("trap {name}")
        }
    }
}

/// An outcome shortened for the report (long return data elided).
fn short(s: &str) -> String {
    if s.len() <= 100 {
        s.to_string()
    } else {
        format!("{}... ({} chars)", &s[..90], s.len())
    }
}

/// Whether the receipt says the call ran on a warm guest.
fn was_warm(r: &Receipt) -> bool {
    r.diagnostics.warm
}

/// The trap message, for the report.
fn detail(r: &Receipt) -> String {
    r.outcome.message.clone().unwrap_or_default()
}

/// An outcome or the API error, as a string.
fn observed(result: &Result<Receipt, Error>) -> String {
    match result {
        Ok(r) => outcome(r),
        Err(e) => format!("error: {e}"),
    }
}

struct Attack {
    name: String,
    path: PathBuf,
    expected: String,
    check: Option<String>,
    min_violations: usize,
    objcopy: Vec<String>,
    message: Option<String>,
}

fn redteam_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("redteam")
}

fn support_dir() -> PathBuf {
    redteam_dir().join("support")
}

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("redteam");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The value of `key:` in the file's header comment.
fn header_value(source: &str, key: &str) -> Option<String> {
    let header = source.split("*/").next().unwrap_or("");
    header.lines().find_map(|line| {
        let line = line
            .trim()
            .trim_start_matches("/*")
            .trim_start_matches('*')
            .trim();
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

fn attacks() -> Vec<Attack> {
    let filter = std::env::var("REDTEAM_FILTER").unwrap_or_default();
    let mut list = Vec::new();
    for entry in std::fs::read_dir(redteam_dir()).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !path.is_file() || !(ext == "S" || ext == "c") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if !name.contains(&filter) {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let expected = header_value(&source, "expected")
            .unwrap_or_else(|| panic!("{name}: no `expected:` line in its header"));
        for key in ["attack", "targets"] {
            assert!(
                header_value(&source, key).is_some(),
                "{name}: no `{key}:` line in its header"
            );
        }
        let check = header_value(&source, "check");
        let min_violations = header_value(&source, "min-violations")
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name}: bad min-violations"))
            })
            .unwrap_or(1);
        let objcopy = header_value(&source, "objcopy")
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        list.push(Attack {
            name,
            path,
            expected,
            check,
            min_violations,
            objcopy,
            message: header_value(&source, "message"),
        });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{what} failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `sources` (with `support/honest.S`) as images/build.rs builds C
/// contracts: gcc with the shared contract flags, then `objcopy
/// --localize-hidden`.
fn build(name: &str, sources: &[PathBuf], objcopy: &[String]) -> Vec<u8> {
    let out = work_dir().join(format!("{name}.elf"));
    let mut cmd = Command::new("gcc");
    cmd.arg("-O2")
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg("-I")
        .arg(support_dir())
        .args(sources)
        .arg(support_dir().join("honest.S"))
        .arg("-o")
        .arg(&out);
    run(&mut cmd, &format!("gcc for {name}"));
    if !objcopy.is_empty() {
        run(
            Command::new("objcopy").args(objcopy).arg(&out),
            &format!("objcopy {objcopy:?} for {name}"),
        );
    }
    run(
        Command::new("objcopy").arg("--localize-hidden").arg(&out),
        &format!("objcopy for {name}"),
    );
    std::fs::read(&out).unwrap()
}

fn options(gas: u64, input: &[u8]) -> CallOptions {
    CallOptions {
        input: input.to_vec(),
        caller: CALLER,
        timeout: Some(Duration::from_secs(30)),
        gas_limit: Some(gas),
        access_list: Vec::new(),
    }
}

fn gas_of(method: &str) -> u64 {
    if method == "honest" {
        HONEST_GAS
    } else {
        ATTACK_GAS
    }
}

fn input_of(method: &str) -> &'static [u8] {
    if method == "fib" {
        &[50]
    } else {
        INPUT
    }
}

/// fib(50), what `honest_other`'s `fib` returns for input [50].
fn fib50() -> String {
    format!("ok {}", hex::encode(12_586_269_025u64.to_le_bytes()))
}

/// Outcome of a rejected module: `rejected <class>,<class>... (<n> violations)`.
fn rejected(report: &nativm_verifier::Report) -> String {
    let mut classes: Vec<&str> = report.violations.iter().map(|v| v.class).collect();
    classes.sort();
    classes.dedup();
    format!(
        "rejected {} ({} violations)",
        classes.join(","),
        report.violations.len()
    )
}

fn load(engine: &Engine, elf: &[u8]) -> Result<Module, String> {
    Module::new(engine, elf).map_err(|e| match e {
        Error::Rejected { report, .. } => rejected(&report),
        e => format!("error: {e}"),
    })
}

/// Whether an observed outcome satisfies the expectation.
fn matches(expected: &str, observed: &str, min_violations: usize) -> bool {
    if let Some(class) = expected.strip_prefix("rejected ") {
        let Some(rest) = observed.strip_prefix("rejected ") else {
            return false;
        };
        let (classes, count) = rest.split_once(" (").unwrap_or((rest, "0"));
        let count: usize = count.trim_end_matches(" violations)").parse().unwrap_or(0);
        return classes.split(',').any(|c| c == class.trim()) && count >= min_violations;
    }
    expected == observed
}

/// The other honest contract, its references, on each engine.
struct Other {
    module: Module,
    fib: String,
    honest: String,
}

struct Findings {
    /// Per attack: (name, expected, observed first outcome, problems).
    rows: Vec<(String, String, String, Vec<String>)>,
}

/// Runs one attack on the test thread's engine. Returns the first observed
/// outcome and problems found.
fn run_on_engine(
    engine: &Engine,
    attack: &Attack,
    elf: &[u8],
    other: &Other,
    problems: &mut Vec<String>,
) -> (String, Option<String>) {
    let module = match load(engine, elf) {
        Ok(m) => m,
        Err(observed) => return (observed, None),
    };
    let store = StateDb::in_memory();
    let call = |method: &str| -> Result<Receipt, Error> {
        engine.call(
            &module,
            &store,
            method,
            &options(gas_of(method), input_of(method)),
        )
    };
    let other_store = StateDb::in_memory();
    let call_other = |method: &str| -> Result<Receipt, Error> {
        engine.call(
            &other.module,
            &other_store,
            method,
            &options(gas_of(method), input_of(method)),
        )
    };
    let pristine = observed(&call("honest"));
    if !pristine.starts_with("ok ") {
        problems.push(format!("honest on a fresh guest: {pristine}"));
        return (format!("(honest failed: {pristine})"), None);
    }
    let mut first = None;
    let mut attack_once = |problems: &mut Vec<String>, after: &str, expect_warm: bool| {
        let result = call("attack");
        let o = observed(&result);
        if let Ok(r) = &result {
            if expect_warm && !was_warm(r) {
                problems.push(format!("attack after {after}: not run on a warm guest"));
            }
            if std::env::var_os("REDTEAM_VERBOSE").is_some() && first.is_none() {
                eprintln!("    [{}] {}", attack.name, detail(r));
            }
            if let Some(want) = &attack.message {
                if !detail(r).contains(want.as_str()) {
                    problems.push(format!(
                        "MESSAGE: attack after {after}: `{}` does not contain `{want}`",
                        detail(r)
                    ));
                }
            }
            if outcome(r) != attack.expected && r.outcome.status == Status::Trap {
                problems.push(format!("attack after {after}: {}", detail(r)));
            }
        }
        match &first {
            None => first = Some(o),
            Some(f) if *f != o => problems.push(format!(
                "attack after {after}: outcome {}, earlier {}",
                short(&o),
                short(f)
            )),
            Some(_) => {}
        }
        if let Some(check) = &attack.check {
            let c = observed(&call("check"));
            if c != *check {
                problems.push(format!(
                    "check after attack ({after}): {}, expected {check}",
                    short(&c)
                ));
            }
        }
    };
    let honest_after = |problems: &mut Vec<String>, after: &str| {
        let h = observed(&call("honest"));
        if h != pristine {
            problems.push(format!("honest after {after}: not pristine: {}", short(&h)));
        }
        let f = observed(&call_other("fib"));
        if f != other.fib {
            problems.push(format!("other contract's fib after {after}: {f}"));
        }
        let oh = observed(&call_other("honest"));
        if oh != other.honest {
            problems.push(format!(
                "other contract's honest after {after}: not pristine"
            ));
        }
    };
    for round in 0..2 {
        let after = format!("honest (engine, round {round})");
        attack_once(problems, &after, true);
        honest_after(problems, &format!("attack (engine, round {round})"));
    }
    attack_once(problems, "honest (engine, back to back 1)", true);
    attack_once(problems, "attack (engine, back to back 2)", false);
    honest_after(problems, "attacks back to back (engine)");
    (first.unwrap_or_default(), Some(pristine))
}

/// Runs one attack on the executor's workers.
fn run_on_executor(
    executor: &Executor,
    attack: &Attack,
    elf: &[u8],
    other: &Arc<Module>,
    refs: (&str, &str, &str),
    expected_attack: &str,
    problems: &mut Vec<String>,
) {
    let (pristine, other_fib, other_honest) = refs;
    let module = match Module::new(executor.engine(), elf) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            problems.push(format!("executor: the module did not load: {e}"));
            return;
        }
    };
    if let Err(e) = executor.prewarm(&module) {
        problems.push(format!("executor: prewarm: {e}"));
        return;
    }
    let store = Arc::new(StateDb::in_memory());
    let other_store = Arc::new(StateDb::in_memory());
    let honest_round = |problems: &mut Vec<String>, when: &str| {
        let handles: Vec<_> = (0..2)
            .flat_map(|_| {
                [
                    (
                        executor.submit(&module, &store, "honest", options(HONEST_GAS, INPUT)),
                        pristine,
                        "honest",
                    ),
                    (
                        executor.submit(other, &other_store, "fib", options(ATTACK_GAS, &[50])),
                        other_fib,
                        "other fib",
                    ),
                    (
                        executor.submit(other, &other_store, "honest", options(HONEST_GAS, INPUT)),
                        other_honest,
                        "other honest",
                    ),
                ]
            })
            .collect();
        for (handle, want, what) in handles {
            let got = observed(&handle.wait());
            if got != want {
                problems.push(format!("executor: {what} {when}: {}", short(&got)));
            }
        }
    };
    for round in 0..2 {
        honest_round(problems, &format!("before attacks (round {round})"));
        let handles: Vec<_> = (0..2)
            .map(|_| executor.submit(&module, &store, "attack", options(ATTACK_GAS, INPUT)))
            .collect();
        for handle in handles {
            let got = observed(&handle.wait());
            if got != expected_attack {
                problems.push(format!(
                    "executor: attack (round {round}): {}, on the engine {}",
                    short(&got),
                    short(expected_attack)
                ));
            }
        }
        if let Some(check) = &attack.check {
            let got =
                observed(&executor.call(&module, &store, "check", options(ATTACK_GAS, INPUT)));
            if got != *check {
                problems.push(format!("executor: check (round {round}): {}", short(&got)));
            }
        }
        honest_round(problems, &format!("after attacks (round {round})"));
    }
}

fn other_on(engine: &Engine, elf: &[u8]) -> Other {
    let module = Module::new(engine, elf).expect("honest_other loads");
    let store = StateDb::in_memory();
    let honest = observed(&engine.call(&module, &store, "honest", &options(HONEST_GAS, INPUT)));
    assert!(honest.starts_with("ok "), "honest_other's honest: {honest}");
    let fib = observed(&engine.call(&module, &store, "fib", &options(ATTACK_GAS, &[50])));
    assert_eq!(fib, fib50(), "honest_other's fib");
    Other {
        module,
        fib,
        honest,
    }
}

#[test]
fn redteam_suite() {
    let list = attacks();
    assert!(
        std::env::var("REDTEAM_FILTER").is_ok() || list.len() >= 32,
        "at least 32 attacks, found {}",
        list.len()
    );
    let engine = Engine::new(EngineConfig::default())
        .unwrap_or_else(|e| panic!("the red-team suite needs /dev/kvm: {e}"));
    let executor = Executor::new(EngineConfig::default(), 2).expect("/dev/kvm is required");
    let other_elf = build(
        "support-honest_other",
        &[support_dir().join("honest_other.S")],
        &[],
    );
    let other = other_on(&engine, &other_elf);
    let other_exec = Arc::new(Module::new(executor.engine(), &other_elf).unwrap());
    executor.prewarm(&other_exec).unwrap();

    let mut findings = Findings { rows: Vec::new() };
    for attack in &list {
        let started = std::time::Instant::now();
        let elf = build(
            &attack.name,
            std::slice::from_ref(&attack.path),
            &attack.objcopy,
        );
        let mut problems = Vec::new();
        let (first, pristine) = run_on_engine(&engine, attack, &elf, &other, &mut problems);
        if let Some(pristine) = pristine {
            // The executor path: the same outcome on warm workers.
            run_on_executor(
                &executor,
                attack,
                &elf,
                &other_exec,
                (&pristine, &other.fib, &other.honest),
                &first,
                &mut problems,
            );
        } else if first.starts_with("rejected") {
            // Rejected (or failed to load): the same on the executor's engine.
            let again = load(executor.engine(), &elf)
                .err()
                .unwrap_or_else(|| "loaded".into());
            if again != first {
                problems.push(format!("executor engine: {again}"));
            }
        }
        if !matches(&attack.expected, &first, attack.min_violations) {
            problems.insert(
                0,
                format!(
                    "MISMATCH: expected `{}`, observed `{}`",
                    attack.expected,
                    short(&first)
                ),
            );
        }
        eprintln!(
            "{:<40} {:>6.2}s  expected {:<28} observed {}{}",
            attack.name,
            started.elapsed().as_secs_f64(),
            attack.expected,
            short(&first),
            if problems.is_empty() {
                ""
            } else {
                "  <-- PROBLEMS"
            }
        );
        for p in &problems {
            eprintln!("    {p}");
        }
        findings.rows.push((
            attack.name.clone(),
            attack.expected.clone(),
            first,
            problems,
        ));
    }

    let mut report = String::new();
    for (name, expected, observed, problems) in &findings.rows {
        report += &format!(
            "{name}\t{expected}\t{}\t{}\n",
            short(observed),
            if problems.is_empty() { "pass" } else { "FAIL" }
        );
        for p in problems {
            report += &format!("    {p}\n");
        }
    }
    std::fs::write(work_dir().join("report.txt"), &report).unwrap();
    let failed: Vec<&str> = findings
        .rows
        .iter()
        .filter(|r| !r.3.is_empty())
        .map(|r| r.0.as_str())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} attacks failed: {}\n{report}",
        failed.len(),
        findings.rows.len(),
        failed.join(", ")
    );
}
