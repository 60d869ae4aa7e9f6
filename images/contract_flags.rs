/// Compiler and linker flags that make gcc or clang build a C contract: a
/// freestanding, static, non-PIE x86-64 executable at GNU ld's default base
/// (0x400000, inside the contract window), code in its own segment, no
/// entry point (methods are exported functions), no red zone (nothing may
/// live below `rsp`), no stack protector or unwind tables (no runtime for
/// them), no CET instrumentation. Optimization level and language standard
/// are left to the caller. This file is shared by `images/build.rs` (through
/// `include!`) and, through `nativm_images`, every test or benchmark that
/// builds contracts.
pub const C_CONTRACT_FLAGS: &[&str] = &[
    "-ffreestanding",
    "-fno-builtin",
    "-nostdlib",
    "-static",
    "-no-pie",
    "-fno-pic",
    "-mno-red-zone",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-fcf-protection=none",
    "-Wl,--build-id=none",
    "-Wl,-z,separate-code",
    "-Wl,-z,noexecstack",
    "-Wl,-e,0",
];

/// rustc flags (`-C ...` pairs) for Rust contracts: static, non-PIE, no red
/// zone, baseline x86-64, no unwind tables, no RELRO, every section kept,
/// no entry point. `images/build.rs` passes `--target` explicitly so that
/// they apply only to the contracts, not to build scripts of dependencies.
pub const RUST_CONTRACT_FLAGS: &[&str] = &[
    "-C",
    "no-redzone=yes",
    "-C",
    "relocation-model=static",
    "-C",
    "target-cpu=x86-64",
    // `curve25519-dalek` (under `ed25519-dalek`): the portable 64-bit
    // backend, not the AVX2 one it would pick by run-time CPU detection
    // (`cpuid`, which the verifier refuses). The crate documents this cfg.
    "--cfg",
    "curve25519_dalek_backend=\"serial\"",
    "-C",
    "force-unwind-tables=no",
    // No `-z relro -z now` and no `nonlazybind`: calls stay direct.
    "-C",
    "relro-level=off",
    "-C",
    "link-arg=-nostdlib",
    "-C",
    "link-arg=-static",
    "-C",
    "link-arg=-no-pie",
    "-C",
    "link-arg=-Wl,--build-id=none",
    "-C",
    "link-arg=-Wl,-z,separate-code",
    "-C",
    "link-arg=-Wl,-z,noexecstack",
    // Methods are referenced by nothing: keep every section LTO kept.
    "-C",
    "link-arg=-Wl,--no-gc-sections",
    // Contracts have no entry point; e_entry = 0 (and no `_start` needed).
    "-C",
    "link-arg=-Wl,-e,0",
];

/// Extra flags for rustc >= 1.90, whose default linker on this target is
/// the bundled rust-lld (image base 0x200000, the runtime page!): use the
/// system `cc` + GNU ld, whose default base is 0x400000.
pub const RUST_CONTRACT_FLAGS_NO_LLD: &[&str] = &[
    "-C",
    "linker-features=-lld",
    "-C",
    "link-self-contained=-linker",
];
