//! Ordinary clang output verifies: a few freestanding C programs (sorting,
//! a jump-table switch, hashing, SSE double arithmetic, bit tricks) built by
//! clang at -O0, -O1, -O2, -O3 and -Os. Needs clang (`scripts/install-deps`).

use std::path::PathBuf;
use std::process::Command;

use nativm_verifier::{verify, Config};

const PROGRAM: &str = r#"
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

static void host(u64 nr, u64 a, u64 b) { ((u64 (*)(u64, u64, u64, u64, u64))0x200000UL)(nr, a, b, 0, 0); }

static void insertion_sort(u32 *v, u64 n) {
    for (u64 i = 1; i < n; i++) {
        u32 x = v[i];
        u64 j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}

static u64 fnv(const u8 *p, u64 n) {
    u64 h = 1469598103934665603UL;
    for (u64 i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211UL; }
    return h;
}

static int classify(int op, int a, int b) {
    switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return b ? a / b : 0;
    case 4: return b ? a % b : 0;
    case 5: return a << (b & 31);
    case 6: return a >> (b & 31);
    case 7: return a & b;
    case 8: return a | b;
    case 9: return a ^ b;
    default: return -1;
    }
}

static double mean(const double *v, u64 n) {
    double s = 0;
    for (u64 i = 0; i < n; i++) s += v[i] * 0.5 + 1.25;
    return n ? s / (double)n : 0.0;
}

static u64 bits(u64 x) {
    if (!x) return 0;
    return (u64)__builtin_ctzl(x) + (u64)__builtin_clzl(x) * 3 + (u64)__builtin_popcountl(x) * 7;
}

void run(const u8 *input, u64 len) {
    u32 v[16];
    double d[8];
    for (int i = 0; i < 16; i++) v[i] = (u32)(input[i % (len ? len : 1)] * 2654435761u);
    for (int i = 0; i < 8; i++) d[i] = (double)v[i] / 3.0;
    insertion_sort(v, 16);
    u64 out[4];
    out[0] = fnv(input, len);
    out[1] = (u64)classify((int)(len % 12), (int)v[0], (int)v[1]);
    out[2] = (u64)(mean(d, 8) * 1000.0);
    out[3] = bits(out[0]);
    host(2, (u64)out, sizeof out);
}
"#;

fn clang(opt: &str, src: &PathBuf, out: &PathBuf) {
    let status = Command::new("clang")
        .arg(opt)
        .args(nativm_images::C_CONTRACT_FLAGS)
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .expect("clang is needed for this test: run scripts/install-deps");
    assert!(status.success(), "clang {opt} failed");
}

#[test]
fn clang_output_verifies_at_every_optimization_level() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("clang-output");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("program.c");
    std::fs::write(&src, PROGRAM).unwrap();
    for opt in ["-O0", "-O1", "-O2", "-O3", "-Os"] {
        let out = dir.join(format!("program{opt}.elf"));
        clang(opt, &src, &out);
        let report = verify(&std::fs::read(&out).unwrap(), &Config::default());
        assert!(report.is_ok(), "clang {opt}:\n{}", report.to_text());
        assert!(
            report.methods.contains(&"run".to_string()),
            "clang {opt}: {:?}",
            report.methods
        );
        assert!(
            report.stats.instructions > 50,
            "clang {opt}: {} instructions",
            report.stats.instructions
        );
    }
}
