//! `nativm debug` driven by Debian's `gdb` in batch mode: break at a
//! function, continue, read a register and a local, backtrace, step, and
//! continue to the receipt. Needs /dev/kvm, gcc and gdb (Debian package
//! `gdb`); without gdb it fails saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SOURCE: &str = r#"typedef unsigned long u64;
static u64 hc(u64 nr, u64 a, u64 b, u64 c, u64 d) {
    return ((u64 (*)(u64, u64, u64, u64, u64))0x200000UL)(nr, a, b, c, d);
}
__attribute__((noinline)) u64 square_plus(u64 x) {
    u64 local = x * x;
    local = local + 7;
    return local;
}
void run(const unsigned char *in, u64 len) {
    u64 v = square_plus(in[0]);
    hc(2, (u64)&v, 8, 0, 0);
}
"#;

/// The contract, built by gcc at -O0 with debug information.
fn build() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nativm-debug");
    std::fs::create_dir_all(&dir).unwrap();
    let (src, out) = (dir.join("dbg.c"), dir.join("dbg.elf"));
    std::fs::write(&src, SOURCE).unwrap();
    let status = Command::new("gcc")
        .args(["-g", "-O0"])
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("gcc is needed for this test");
    assert!(status.success(), "gcc failed");
    out
}

/// Kills the child when the test ends early.
struct Reaper(Option<Child>);

impl Reaper {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("not yet waited for")
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child` at most `limit`; its output.
fn finish(mut child: Reaper, limit: Duration, what: &str) -> std::process::Output {
    let started = Instant::now();
    while child.child().try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < limit,
            "{what} did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.take().unwrap().wait_with_output().unwrap()
}

/// Runs gdb in batch mode against the stub at `addr`: its whole output.
fn run_gdb(elf: &std::path::Path, addr: &str, local_line: usize) -> String {
    let commands = [
        format!("target remote {addr}"),
        "break square_plus".into(),
        "continue".into(),
        "info registers rdi".into(),
        format!("break dbg.c:{local_line}"),
        "continue".into(),
        "print local".into(),
        "bt".into(),
        "stepi".into(),
        "info registers rip".into(),
        "delete".into(),
        "continue".into(),
    ];
    let mut gdb = Command::new("gdb");
    gdb.args(["-batch", "-nx"]);
    for c in &commands {
        gdb.arg("-ex").arg(c);
    }
    let gdb = Reaper(Some(
        gdb.arg(elf)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let out = finish(gdb, Duration::from_secs(60), "gdb");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn gdb_breaks_reads_unwinds_steps_and_continues_to_the_receipt() {
    let gdb_present = Command::new("gdb")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        gdb_present,
        "gdb is needed for this test: install Debian's `gdb` package (apt-get install -y gdb)"
    );
    let elf = build();
    let mut nativm = Reaper(Some(
        Command::new(env!("CARGO_BIN_EXE_nativm"))
            .arg("debug")
            .arg(&elf)
            .args(["run", "--input", "05", "--gdb", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let mut line = String::new();
    BufReader::new(nativm.child().stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("nativm debug: waiting for GDB on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    let local_line = SOURCE
        .lines()
        .position(|l| l.contains("return local;"))
        .unwrap()
        + 1;
    let text = run_gdb(&elf, &addr, local_line);
    for expected in [
        "Breakpoint 1, square_plus (x=5)",
        "rdi            0x5",
        &format!(
            "Breakpoint 2, square_plus (x=5) at {}:{local_line}",
            elf.with_file_name("dbg.c").display()
        ),
        "$1 = 32",
        "#0  square_plus (x=5)",
        " in run (in=0x60000000",
        "[Inferior 1 (process 1) exited normally]",
    ] {
        assert!(
            text.contains(expected),
            "gdb output lacks {expected:?}:\n{text}"
        );
    }
    // The step moved RIP within square_plus, in original addresses.
    let rip = text
        .lines()
        .rfind(|l| l.starts_with("rip "))
        .unwrap_or_else(|| panic!("no rip in:\n{text}"));
    assert!(rip.contains("<square_plus+"), "{rip}\n{text}");
    let out = finish(nativm, Duration::from_secs(30), "nativm debug");
    let receipt = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nativm debug failed: {receipt}");
    assert!(receipt.contains("status:        ok"), "{receipt}");
    assert!(
        receipt.contains(&format!(
            "return_data:   {}",
            hex::encode(32u64.to_le_bytes())
        )),
        "the debugged call returns 5*5+7: {receipt}"
    );
}

#[test]
fn bad_debug_arguments_exit_2_naming_what_was_wrong_before_listening() {
    let fib = nativm_images::contract_path("fib");
    let cases: [(&[&str], &str); 3] = [
        (
            &["fib", "--gdb", "no-such-address"],
            "--gdb no-such-address",
        ),
        (
            &["fibonacci", "--gdb", "127.0.0.1:0"],
            "unknown method `fibonacci`",
        ),
        (
            &["fib", "--input", "zz", "--gdb", "127.0.0.1:0"],
            "--input: not hex",
        ),
    ];
    for (args, message) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_nativm"))
            .arg("debug")
            .arg(&fib)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("waiting for GDB"), "{args:?}: {stderr}");
    }
}
