//! Builds the example contracts into `<target>/contracts/<name>.elf`.
//!
//! - Rust contracts: every directory under `contracts/` (except `sdk`) with
//!   a `Cargo.toml` is a binary crate of the nested workspace
//!   `contracts/Cargo.toml`, built by a nested `cargo build --release` with
//!   its own target directory (`<target>/contracts-build`: the outer build
//!   holds the lock on `<target>`), its own RUSTFLAGS, and the environment
//!   the outer cargo gave this script removed.
//! - C contracts: every `contracts/c/*.c` is built by `gcc` against
//!   `sdk-c/nativm.h`.
//!
//! Every ELF is then copied with `objcopy --localize-hidden`, which makes
//! hidden helper symbols (`memcpy`, ...) local so that the only global
//! functions left are the methods.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The target the contracts are built for (the only one installed).
const CONTRACT_TARGET: &str = "x86_64-unknown-linux-gnu";

include!("contract_flags.rs");

/// Flags for the bundled C examples: the shared contract flags at -O2, C11,
/// all warnings.
fn c_flags() -> Vec<&'static str> {
    let mut flags = vec!["-O2", "-std=c11", "-Wall", "-Wextra"];
    flags.extend_from_slice(C_CONTRACT_FLAGS);
    flags
}

/// Environment variables set by the outer cargo (or the user) that must not
/// reach the nested cargo: they would change its flags, target directory,
/// profile or jobserver, or make it think it is a build script.
const STRIP_ENV: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_CRATE_NAME",
    "CARGO_PKG_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
    "NUM_JOBS",
    "RUSTC_BOOTSTRAP",
];

/// Prefixes of further variables to remove (per-target and per-profile
/// overrides, build-script metadata).
const STRIP_ENV_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "CARGO_TARGET_",
    "CARGO_PROFILE_",
    "CARGO_BUILD_",
    "CARGO_DEP_",
    "DEP_",
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let contracts_src = manifest_dir.join("contracts");
    let sdk_c = manifest_dir.join("sdk-c");
    let abi_dir = manifest_dir.join("..").join("abi");

    let target_dir = find_target_dir();
    fs::create_dir_all(&target_dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", target_dir.display())));
    let target_dir = fs::canonicalize(&target_dir).unwrap_or(target_dir);
    let out_dir = target_dir.join("contracts");
    let build_dir = target_dir.join("contracts-build");
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", out_dir.display())));
    fs::create_dir_all(&build_dir)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", build_dir.display())));

    // Rebuild when any contract source, the SDKs or the ABI change.
    for p in [
        contracts_src.join("Cargo.toml"),
        contracts_src.join("Cargo.lock"),
        contracts_src.join("c"),
        contracts_src.join("sdk"),
        // Kernels shared by contracts and benches (`#[path]`-included).
        contracts_src.join("kernels.rs"),
        sdk_c.clone(),
        abi_dir.join("src"),
        abi_dir.join("Cargo.toml"),
        manifest_dir.join("contract_flags.rs"),
    ] {
        println!("cargo:rerun-if-changed={}", p.display());
    }

    let rust_contracts = rust_contract_names(&contracts_src);
    for name in &rust_contracts {
        println!(
            "cargo:rerun-if-changed={}",
            contracts_src.join(name).display()
        );
    }
    let c_contracts = c_contract_names(&contracts_src.join("c"));

    check_tool("objcopy", "objcopy not found: install binutils");
    build_rust_contracts(&contracts_src, &build_dir, &out_dir, &rust_contracts);
    build_c_contracts(
        &contracts_src.join("c"),
        &sdk_c,
        &build_dir,
        &out_dir,
        &c_contracts,
    );

    let mut all: Vec<&String> = rust_contracts.iter().chain(c_contracts.iter()).collect();
    all.sort();
    let list: Vec<String> = all.iter().map(|n| format!("{n:?}")).collect();
    let gen = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("examples.rs");
    write_if_changed(&gen, format!("&[{}]\n", list.join(", ")).as_bytes());

    println!("cargo:rustc-env=NATIVM_CONTRACTS_DIR={}", out_dir.display());
}

/// The outer workspace's target directory: `CARGO_TARGET_DIR` if set (made
/// absolute against the workspace root, as cargo does for relative values
/// given on the command line or in the environment), else found from
/// `OUT_DIR` = `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
fn find_target_dir() -> PathBuf {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    if let Some(t) = env::var_os("CARGO_TARGET_DIR").filter(|t| !t.is_empty()) {
        let t = PathBuf::from(t);
        if t.is_absolute() {
            return t;
        }
        // Relative: prefer the ancestor of OUT_DIR that ends with it.
        if let Some(a) = out_dir.ancestors().find(|a| a.ends_with(&t)) {
            return a.to_path_buf();
        }
    }
    // out -> <pkg>-<hash> -> build -> <profile>
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| fail(&format!("unexpected OUT_DIR layout: {}", out_dir.display())));
    let mut target = profile_dir
        .parent()
        .unwrap_or_else(|| fail(&format!("unexpected OUT_DIR layout: {}", out_dir.display())));
    // With `--target <triple>`, the profile dir sits in <target>/<triple>/.
    if let Some(triple) = env::var_os("TARGET") {
        if target.file_name() == Some(triple.as_os_str()) && !target.join("CACHEDIR.TAG").exists() {
            if let Some(p) = target.parent() {
                target = p;
            }
        }
    }
    target.to_path_buf()
}

/// Names of the Rust contract crates: subdirectories of `contracts/` with a
/// `Cargo.toml`, except the SDK.
fn rust_contract_names(contracts_src: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let rd = fs::read_dir(contracts_src)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", contracts_src.display())));
    for entry in rd.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.join("Cargo.toml").is_file() && name != "sdk" && name != "target" {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Names of the C contracts: `contracts/c/<name>.c`.
fn c_contract_names(c_dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(rd) = fs::read_dir(c_dir) {
        for entry in rd.flatten() {
            let path = entry.path();
            if path.extension() == Some(OsStr::new("c")) {
                if let Some(stem) = path.file_stem() {
                    names.push(stem.to_string_lossy().into_owned());
                }
            }
        }
    }
    names.sort();
    names
}

fn build_rust_contracts(contracts_src: &Path, build_dir: &Path, out_dir: &Path, names: &[String]) {
    if names.is_empty() {
        return;
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut flags: Vec<&str> = RUST_CONTRACT_FLAGS.to_vec();
    if rustc_minor() >= 90 {
        flags.extend_from_slice(RUST_CONTRACT_FLAGS_NO_LLD);
    }
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(contracts_src)
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(contracts_src.join("Cargo.toml"))
        .arg("--target")
        .arg(CONTRACT_TARGET)
        .arg("--target-dir")
        .arg(build_dir)
        .arg("--workspace")
        .arg("--bins");
    for (k, _) in env::vars_os() {
        let ks = k.to_string_lossy();
        if STRIP_ENV.contains(&ks.as_ref()) || STRIP_ENV_PREFIXES.iter().any(|p| ks.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUSTFLAGS", flags.join(" "));
    let out = run(&mut cmd, "cargo (nested build of the Rust contracts)");
    check(&cmd, &out, "building the Rust contracts failed");

    let bin_dir = build_dir.join(CONTRACT_TARGET).join("release");
    for name in names {
        install(&bin_dir.join(name), &out_dir.join(format!("{name}.elf")));
    }
}

fn build_c_contracts(
    c_dir: &Path,
    sdk_c: &Path,
    build_dir: &Path,
    out_dir: &Path,
    names: &[String],
) {
    if names.is_empty() {
        return;
    }
    check_tool(
        "gcc",
        "gcc not found: install gcc (needed to build the C example contracts)",
    );
    let c_build = build_dir.join("c");
    fs::create_dir_all(&c_build)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", c_build.display())));
    for name in names {
        let src = c_dir.join(format!("{name}.c"));
        let obj = c_build.join(format!("{name}.elf"));
        let mut cmd = Command::new("gcc");
        cmd.args(c_flags())
            .arg("-I")
            .arg(sdk_c)
            .arg(&src)
            .arg("-o")
            .arg(&obj);
        let out = run(&mut cmd, "gcc");
        check(
            &cmd,
            &out,
            &format!("building the C contract {name} failed"),
        );
        install(&obj, &out_dir.join(format!("{name}.elf")));
    }
}

/// Copies `src` to `dst` with hidden symbols made local, via a temporary
/// file and a rename so readers never see a partial file.
fn install(src: &Path, dst: &Path) {
    if !src.is_file() {
        fail(&format!(
            "expected build output {} is missing",
            src.display()
        ));
    }
    let tmp = dst.with_extension("elf.tmp");
    let mut cmd = Command::new("objcopy");
    cmd.arg("--localize-hidden").arg(src).arg(&tmp);
    let out = run(&mut cmd, "objcopy");
    check(&cmd, &out, &format!("objcopy of {} failed", src.display()));
    fs::rename(&tmp, dst).unwrap_or_else(|e| {
        fail(&format!(
            "cannot rename {} to {}: {e}",
            tmp.display(),
            dst.display()
        ))
    });
}

/// Minor version of the rustc cargo uses (`RUSTC`), e.g. 95 for 1.95.0.
fn rustc_minor() -> u32 {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output();
    let Ok(out) = out else { return 0 };
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("release: "))
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn check_tool(tool: &str, msg: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => fail(msg),
    }
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| fail(&format!("cannot run {what} ({cmd:?}): {e}")))
}

fn check(cmd: &Command, out: &Output, msg: &str) {
    if !out.status.success() {
        fail(&format!(
            "{msg}\ncommand: {cmd:?}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
}

fn write_if_changed(path: &Path, data: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(data) {
        fs::write(path, data)
            .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: nativm-images build script: {msg}");
    panic!("nativm-images: {msg}");
}
