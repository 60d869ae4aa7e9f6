//! The honest probe contract: it records what it finds at its entry and in
//! its memory and returns it, so that any trace of an earlier call (of any
//! contract, on the same engine, thread or worker) changes its result.
//!
//! Its `run` stores, in `.bss` (from [`CAP`]):
//!
//! * every general register at entry (`rsp` included), RFLAGS, MXCSR and
//!   XMM0-15;
//! * `caller`'s result, and `storage_read` of each of [`crate::gen::KEYS`]
//!   (the fuzzed contracts write those keys in their own namespace, in the
//!   same store) with its result;
//! * RFLAGS after a host call made with DF set (the gate clears DF);
//! * an FNV-1a hash (over qwords) of each region: `.data`, `.bss` past the
//!   capture area, heap, stack, return buffer, the input page, call info,
//!   the runtime page, its own code page, its first prepared-code page and
//!   its code-table page;
//!
//! and returns the capture area with `set_return`.

use iced_x86::code_asm::*;
use nativm_abi as abi;

use crate::elf::{self, Symbol, BSS, DATA, TEXT};
use crate::gen::{HEAP_SIZE, KEYS, STACK_SIZE};

/// Start of the capture area (in `.bss`).
pub const CAP: u64 = BSS;
/// Bytes of `.bss` the probe uses for captures (hashed regions start after).
const CAP_SIZE: u64 = 0x400;

/// Regions hashed, in order: (base, length in bytes).
pub fn regions() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("data", DATA, elf::DATA_SIZE),
        ("bss", BSS + CAP_SIZE, 0x2000 - CAP_SIZE),
        ("heap", abi::HEAP_BASE, HEAP_SIZE),
        ("stack", abi::STACK_TOP - STACK_SIZE, STACK_SIZE),
        (
            "return_buffer",
            abi::RETURN_BUFFER,
            abi::limits::MAX_RETURN_LEN,
        ),
        ("input", abi::INPUT_BASE, 0x1000),
        ("call_info", abi::CALL_INFO, 0x1000),
        ("runtime", abi::RUNTIME_BASE, 0x1000),
        ("text", TEXT, 0x1000),
        ("prepared", abi::PREPARED_CODE_BASE, 0x1000),
        (
            "code_table",
            (abi::CODE_TABLE_BASE + 8 * TEXT) & !0xfff,
            0x1000,
        ),
    ]
}

fn m(addr: u64) -> AsmMemoryOperand {
    qword_ptr(addr)
}

fn host(a: &mut CodeAssembler, nr: u64, args: &[u64]) -> Result<(), IcedError> {
    let regs = [rsi, rdx, rcx, r8];
    for (r, v) in regs.iter().zip(args) {
        a.mov(*r, *v)?;
    }
    a.mov(rdi, nr)?;
    a.call(abi::HOSTCALL_ENTRY)
}

/// Offsets in the capture area.
pub mod at {
    /// 16 general registers (rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8-r15).
    pub const GPRS: u64 = 0;
    /// RFLAGS at entry.
    pub const RFLAGS: u64 = 128;
    /// MXCSR at entry (4 bytes).
    pub const MXCSR: u64 = 136;
    /// XMM0-15 at entry.
    pub const XMM: u64 = 144;
    /// caller's 32 bytes.
    pub const CALLER: u64 = 400;
    /// storage_read results: per key 32 bytes of value then the result.
    pub const READS: u64 = 432;
    /// RFLAGS after a host call made with DF set.
    pub const RFLAGS_AFTER_STD: u64 = 432 + 4 * 40;
    /// Region hashes.
    pub const HASHES: u64 = RFLAGS_AFTER_STD + 8;
}

/// Input the probe is called with.
pub const INPUT: &[u8] = b"probe input: 32 bytes, constant";
/// Gas limit of the probe's calls.
pub const GAS: u64 = 100_000_000;

/// Builds the probe's ELF.
pub fn elf() -> Vec<u8> {
    build().expect("the probe assembles")
}

fn build() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut run = a.create_label();
    a.set_label(&mut run)?;
    let gprs = [
        rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15,
    ];
    for (i, r) in gprs.iter().enumerate() {
        a.mov(m(CAP + at::GPRS + 8 * i as u64), *r)?;
    }
    a.pushfq()?;
    a.pop(rax)?;
    a.mov(m(CAP + at::RFLAGS), rax)?;
    a.stmxcsr(dword_ptr(CAP + at::MXCSR))?;
    let xmms = [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15,
    ];
    for (i, x) in xmms.iter().enumerate() {
        a.movdqu(xmmword_ptr(CAP + at::XMM + 16 * i as u64), *x)?;
    }
    host(&mut a, abi::hostcall::CALLER, &[CAP + at::CALLER])?;
    for k in 0..KEYS.len() as u64 {
        let buf = CAP + at::READS + 40 * k;
        host(
            &mut a,
            abi::hostcall::STORAGE_READ,
            &[DATA + 16 * k, 16, buf, 32],
        )?;
        a.mov(m(buf + 32), rax)?;
    }
    a.std()?;
    host(&mut a, abi::hostcall::CALLER, &[CAP + at::CALLER])?;
    a.pushfq()?;
    a.pop(rax)?;
    a.mov(m(CAP + at::RFLAGS_AFTER_STD), rax)?;
    a.cld()?;
    for (k, (_, base, len)) in regions().iter().enumerate() {
        let mut top = a.create_label();
        a.mov(rsi, *base)?;
        a.mov(ecx, (*len / 8) as u32)?;
        a.mov(rax, 0xcbf2_9ce4_8422_2325u64)?;
        a.mov(r8, 0x100_0000_01b3u64)?;
        a.set_label(&mut top)?;
        a.xor(rax, qword_ptr(rsi))?;
        a.imul_2(rax, r8)?;
        a.add(rsi, 8)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        a.mov(m(CAP + at::HASHES + 8 * k as u64), rax)?;
    }
    let len = at::HASHES + 8 * regions().len() as u64;
    host(&mut a, abi::hostcall::SET_RETURN, &[CAP, len])?;
    a.ret()?;
    let result = a.assemble_options(
        TEXT,
        iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let text = result.inner.code_buffer.clone();
    let mut data = Vec::new();
    for k in KEYS {
        data.extend_from_slice(k);
    }
    data.extend_from_slice(b"the probe's .data");
    let spec = elf::Spec {
        text,
        rodata: Vec::new(),
        data,
        bss_size: 0x2000,
        symbols: vec![Symbol {
            name: "run".into(),
            addr: result.label_ip(&run)?,
            size: 0,
            global: true,
        }],
    };
    Ok(elf::write(&spec))
}

/// A readable account of a probe result (for mismatch reports).
pub fn describe(ret: &[u8]) -> String {
    let q = |off: u64| -> Option<u64> {
        ret.get(off as usize..off as usize + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let mut out = String::new();
    let names = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15",
    ];
    for (i, n) in names.iter().enumerate() {
        if let Some(v) = q(at::GPRS + 8 * i as u64) {
            out += &format!("{n}={v:#x} ");
        }
    }
    if let Some(v) = q(at::RFLAGS) {
        out += &format!("rflags={v:#x} ");
    }
    if let Some(v) = q(at::MXCSR) {
        out += &format!("mxcsr={:#x} ", v & 0xffff_ffff);
    }
    for i in 0..16u64 {
        if let (Some(lo), Some(hi)) = (q(at::XMM + 16 * i), q(at::XMM + 16 * i + 8)) {
            if lo != 0 || hi != 0 {
                out += &format!("xmm{i}={hi:016x}{lo:016x} ");
            }
        }
    }
    for k in 0..4u64 {
        if let Some(v) = q(at::READS + 40 * k + 32) {
            out += &format!("read{k}={v:#x} ");
        }
    }
    if let Some(v) = q(at::RFLAGS_AFTER_STD) {
        out += &format!("rflags_after_std_hostcall={v:#x} ");
    }
    for (k, (name, _, _)) in regions().iter().enumerate() {
        if let Some(v) = q(at::HASHES + 8 * k as u64) {
            out += &format!("hash[{name}]={v:#x} ");
        }
    }
    out
}
