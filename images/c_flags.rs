/// Compiler and linker flags that make gcc or clang build a C contract: a
/// freestanding, static, non-PIE x86-64 executable at GNU ld's default base
/// (0x400000, inside the contract window), code in its own segment, no
/// entry point (methods are exported functions), no red zone (nothing may
/// live below `rsp`), no stack protector or unwind tables (no runtime for
/// them), no CET instrumentation. Optimization level and language standard
/// are left to the caller. Shared by `images/build.rs` (through `include!`)
/// and every test or benchmark that builds contracts.
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
