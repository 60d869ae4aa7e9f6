//! Ordinary compiler output verifies: the C programs in `tests/corpus/`
//! (sorting, hashing with a jump table, struct-heavy SSE floating point,
//! bit tricks) built by gcc at -O0 to -O3 and -Os, for x86-64 and
//! x86-64-v2; the `no_std` Rust program `tests/corpus/program.rs` built by
//! rustc at opt-levels 0 to 3, s and z (with LTO, as the example contracts
//! are built, and without); and every example contract under `images/`.

mod common;

use std::path::PathBuf;

use common::{build_rust, check, corpus_dir, gcc_files, work_dir};
use nativm_verifier::{verify, Config, Report};

const C_PROGRAMS: &[&str] = &["sort", "hash", "geometry", "bits"];

const C_LEVELS: &[(&str, &[&str])] = &[
    ("O0", &["-O0"]),
    ("O1", &["-O1"]),
    ("O2", &["-O2"]),
    ("O3", &["-O3"]),
    ("Os", &["-Os"]),
    ("O2-v2", &["-O2", "-march=x86-64-v2"]),
    ("O3-v2", &["-O3", "-march=x86-64-v2"]),
    (
        "O3-unroll",
        &["-O3", "-funroll-loops", "-fomit-frame-pointer"],
    ),
];

fn build_c(program: &str, level: &str, flags: &[&str]) -> Result<Vec<u8>, String> {
    let dir = work_dir("compiler-output");
    let sources: Vec<PathBuf> = [format!("{program}.c"), "mem.c".to_string()]
        .iter()
        .map(|f| corpus_dir().join(f))
        .collect();
    let mut extra = vec!["-std=c11", "-Wall", "-Wextra"];
    extra.extend_from_slice(flags);
    // libgcc for __popcountdi2 and friends at the x86-64 baseline.
    gcc_files(
        &dir,
        &format!("{program}-{level}"),
        &sources,
        &extra,
        &["-lgcc"],
    )
}

fn describe(name: &str, report: &Report) -> String {
    format!("{name}: {}", report.to_text())
}

/// Runs `jobs` on a few threads and returns the errors.
fn parallel<T: Sync>(jobs: &[T], f: impl Fn(&T) -> Result<(), String> + Sync) -> Vec<String> {
    let threads = std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .min(12);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    jobs.iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(|j| f(j).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("build thread panicked"))
            .collect()
    })
}

#[test]
fn c_programs_verify_at_every_optimisation_level() {
    let jobs: Vec<(&str, &str, &[&str])> = C_PROGRAMS
        .iter()
        .flat_map(|p| C_LEVELS.iter().map(move |(l, f)| (*p, *l, *f)))
        .collect();
    let failures = parallel(&jobs, |&(program, level, flags)| {
        let name = format!("{program}-{level}");
        let bytes = build_c(program, level, flags)?;
        let report = check(&bytes);
        if !report.is_ok() {
            return Err(describe(&name, &report));
        }
        if report.methods.len() < 4 || report.stats.instructions < 100 {
            return Err(format!(
                "{name}: too little found: {:?} {:?}",
                report.methods, report.stats
            ));
        }
        // The interpreter's dense switch is a jump table once optimised.
        if program == "hash" && level != "O0" && report.indirect_branches.is_empty() {
            return Err(format!(
                "{name}: no jump table found:\n{}",
                report.to_text()
            ));
        }
        Ok(())
    });
    assert!(
        failures.is_empty(),
        "{} builds rejected:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// With `Config::allow_avx2`, an AVX2 build (without FMA and F16C, which
/// stay outside the allow-list) verifies; by default it does not.
#[test]
fn avx2_build_verifies_only_when_allowed() {
    let flags: &[&str] = &[
        "-O3",
        "-mavx2",
        "-mbmi",
        "-mbmi2",
        "-mlzcnt",
        "-mmovbe",
        "-mno-fma",
        "-mno-f16c",
    ];
    let cfg = Config {
        allow_avx2: true,
        ..Config::default()
    };
    let failures = parallel(C_PROGRAMS, |program| {
        let bytes = build_c(program, "O3-avx2", flags)?;
        let report = verify(&bytes, &cfg);
        if !report.is_ok() {
            return Err(describe(program, &report));
        }
        Ok(())
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let bytes = build_c("hash", "O3-avx2", flags).unwrap();
    assert!(check(&bytes).has(nativm_verifier::Rule::AllowList, "not-allowed"));
}

#[test]
fn rust_program_verifies_at_every_optimisation_level() {
    let jobs: &[(&str, &[&str])] = &[
        (
            "rust-lto-O0",
            &[
                "-C",
                "opt-level=0",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-lto-O1",
            &[
                "-C",
                "opt-level=1",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-lto-O2",
            &[
                "-C",
                "opt-level=2",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-lto-O3",
            &[
                "-C",
                "opt-level=3",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-lto-Os",
            &[
                "-C",
                "opt-level=s",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        (
            "rust-lto-Oz",
            &[
                "-C",
                "opt-level=z",
                "-C",
                "lto=fat",
                "-C",
                "codegen-units=1",
            ],
        ),
        ("rust-O2", &["-C", "opt-level=2"]),
        ("rust-O3", &["-C", "opt-level=3"]),
    ];
    let failures = parallel(jobs, |&(name, flags)| {
        let bytes = build_rust(name, flags)?;
        let report = check(&bytes);
        if !report.is_ok() {
            // Reports of large builds are long: the summary and violations only.
            let text = report.to_text();
            let head: String = text.lines().take(30).collect::<Vec<_>>().join("\n");
            return Err(format!("{name}: {head}"));
        }
        let mut methods = report.methods.clone();
        methods.sort();
        let want = ["mix", "run", "rust_eh_personality", "sort_sum", "transfer"];
        if methods != want {
            return Err(format!("{name}: methods {methods:?}, expected {want:?}"));
        }
        Ok(())
    });
    assert!(
        failures.is_empty(),
        "{} builds rejected:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every example contract built by the workspace verifies, `faults`
/// included: its faults happen at run time (division by zero, bad memory
/// accesses, ...), not through forbidden instructions.
#[test]
fn example_contracts_verify() {
    assert!(
        nativm_images::EXAMPLES.len() >= 5,
        "{:?}",
        nativm_images::EXAMPLES
    );
    for name in nativm_images::EXAMPLES {
        let path = nativm_images::contract_path(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report = check(&bytes);
        assert!(report.is_ok(), "example {name}:\n{}", report.to_text());
        assert!(!report.methods.is_empty(), "example {name} has no methods");
        assert!(report.stats.instructions > 0);
    }
}
