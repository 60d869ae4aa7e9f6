//! The grammar of generated contracts and its assembler.
//!
//! A [`Program`] (built by `arbitrary` from the fuzzer's bytes) is an
//! exported method `run` plus a few helper functions, each a list of
//! [`Stmt`]s. [`assemble`] turns it into machine code with iced-x86's
//! `CodeAssembler` and an ELF with [`crate::elf`]. The grammar is meant to
//! pass the verifier most of the time, so that the fuzzer spends its time
//! behind it:
//!
//! * every instruction that reads an arithmetic flag (jcc, cmovcc, setcc,
//!   adc, sbb, rcl, rcr, pushfq) comes right after one that defines all of
//!   them (`cmp`/`test`/`clc`/`stc`), so rule 4 holds on every path;
//! * direct branches only target labels (instruction starts), rule 5;
//! * loops are counted (`r15`, saved around the loop), and a helper only
//!   calls helpers after it, so a program terminates (or traps, or runs out
//!   of gas) - except the deliberately hostile statements.
//!
//! Register conventions: the ALU pool is [`POOL`]; `r13` holds computed
//! addresses; `r15` is the loop counter. Host calls follow the ABI:
//! `call 0x200000` with `rdi` = number, `rsi`, `rdx`, `rcx`, `r8` = arguments.

use arbitrary::Arbitrary;
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use nativm_abi as abi;

use crate::elf::{self, Symbol, BSS, DATA, RODATA, TEXT};

/// Heap size of the fuzzing engine (see `crate::harness`).
pub const HEAP_SIZE: u64 = 1 << 20;
/// Stack size of the fuzzing engine.
pub const STACK_SIZE: u64 = 256 << 10;

/// Registers random statements may read and write.
pub const POOL: [AsmRegister64; 13] = [
    rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r14,
];
const POOL32: [AsmRegister32; 13] = [
    eax, ebx, ecx, edx, esi, edi, ebp, r8d, r9d, r10d, r11d, r12d, r14d,
];
const POOL16: [AsmRegister16; 13] = [ax, bx, cx, dx, si, di, bp, r8w, r9w, r10w, r11w, r12w, r14w];
const POOL8: [AsmRegister8; 13] = [
    al, bl, cl, dl, sil, dil, bpl, r8b, r9b, r10b, r11b, r12b, r14b,
];
const XMM: [AsmRegisterXmm; 16] = [
    xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14,
    xmm15,
];

/// Offsets of `.data`: 4 storage keys of 16 bytes, then 8 function pointers.
pub const DATA_KEYS: u64 = DATA;
/// Function pointer table in `.data` (8 entries, filled after assembly).
pub const DATA_FNTABLE: u64 = DATA + 64;
/// First byte of `.data` the fuzzer fills.
pub const DATA_FREE: u64 = DATA + 128;
/// Where the epilogue dumps registers (in `.bss`).
pub const DUMP: u64 = BSS + 0xc00;
/// The storage keys (also read by the probe).
pub const KEYS: [&[u8; 16]; 4] = [
    b"key-0-----------",
    b"key-1-----------",
    b"key-2-----------",
    b"balance---------",
];

/// A register of [`POOL`].
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct R(u8);
impl R {
    fn i(self) -> usize {
        self.0 as usize % POOL.len()
    }
    fn q(self) -> AsmRegister64 {
        POOL[self.i()]
    }
    fn d(self) -> AsmRegister32 {
        POOL32[self.i()]
    }
    fn w(self) -> AsmRegister16 {
        POOL16[self.i()]
    }
    fn b(self) -> AsmRegister8 {
        POOL8[self.i()]
    }
}

/// An XMM register.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct X(u8);
impl X {
    fn x(self) -> AsmRegisterXmm {
        XMM[self.0 as usize % 16]
    }
}

/// An offset into a region.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Off {
    Zero,
    Small(u8),
    Qword(u8),
    Neg(u8),
    Pages(i8),
    Any(i32),
}
impl Off {
    fn v(self) -> i64 {
        match self {
            Off::Zero => 0,
            Off::Small(s) => s as i64,
            Off::Qword(q) => q as i64 * 8,
            Off::Neg(n) => -(n as i64) - 1,
            Off::Pages(p) => p as i64 * 4096,
            Off::Any(a) => a as i64,
        }
    }
}

/// Where an address points. Chosen through [`Addr::region`] (a byte) so
/// that the contract's own memory is more likely than the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    Data,
    Bss,
    Rodata,
    Text,
    Heap,
    HeapEnd,
    StackFrame,
    StackLow,
    StackTop,
    Guard,
    ReturnBuf,
    ReturnBufEnd,
    Input,
    CallInfo,
    Runtime,
    Prepared,
    CodeTable,
    Doorbell,
    Shim,
    Null,
    Unmapped,
    NonCanonical,
    Top,
    InvalidTarget,
    PoolReg,
}

const REGIONS: &[Region] = &[
    Region::Data,
    Region::Data,
    Region::Data,
    Region::Bss,
    Region::Bss,
    Region::Bss,
    Region::Heap,
    Region::Heap,
    Region::Heap,
    Region::StackFrame,
    Region::StackFrame,
    Region::StackFrame,
    Region::ReturnBuf,
    Region::Input,
    Region::Input,
    Region::HeapEnd,
    Region::StackTop,
    Region::ReturnBufEnd,
    Region::Rodata,
    Region::Text,
    Region::StackLow,
    Region::Guard,
    Region::CallInfo,
    Region::Runtime,
    Region::Prepared,
    Region::CodeTable,
    Region::Doorbell,
    Region::Shim,
    Region::Null,
    Region::Unmapped,
    Region::NonCanonical,
    Region::Top,
    Region::InvalidTarget,
    Region::PoolReg,
];

/// Base of a region (not used for [`Region::StackFrame`] and
/// [`Region::PoolReg`], which are register-relative).
pub fn region_base(r: Region) -> u64 {
    match r {
        Region::Data => DATA_FREE,
        Region::Bss => BSS,
        Region::Rodata => RODATA,
        Region::Text => TEXT,
        Region::Heap => abi::HEAP_BASE,
        Region::HeapEnd => abi::HEAP_BASE + HEAP_SIZE,
        Region::StackFrame | Region::PoolReg => 0,
        Region::StackLow => abi::STACK_TOP - STACK_SIZE,
        Region::StackTop => abi::STACK_TOP,
        Region::Guard => abi::STACK_TOP - STACK_SIZE - abi::PAGE_SIZE,
        Region::ReturnBuf => abi::RETURN_BUFFER,
        Region::ReturnBufEnd => abi::RETURN_BUFFER + abi::limits::MAX_RETURN_LEN,
        Region::Input => abi::INPUT_BASE,
        Region::CallInfo => abi::CALL_INFO,
        Region::Runtime => abi::RUNTIME_BASE,
        Region::Prepared => abi::PREPARED_CODE_BASE,
        Region::CodeTable => abi::CODE_TABLE_BASE + 8 * TEXT,
        Region::Doorbell => abi::DOORBELL_VA,
        Region::Shim => abi::SHIM_BASE,
        Region::Null => 0,
        Region::Unmapped => 0x3000_0000,
        Region::NonCanonical => 0x8000_0000_0000,
        Region::Top => 0u64.wrapping_sub(4096),
        Region::InvalidTarget => abi::INVALID_TARGET_BASE,
    }
}

/// An address: a region, an offset, and optionally an index register
/// (masked to 8 bits first) scaled by 1, 2, 4 or 8.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Addr {
    pub region: u8,
    pub off: Off,
    pub index: Option<(R, u8)>,
}
impl Addr {
    pub fn region(&self) -> Region {
        REGIONS[self.region as usize % REGIONS.len()]
    }
}

/// An immediate value.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Val {
    Small(i8),
    Special(u8),
    Addr(u8, Off),
    Any(u64),
}
const SPECIALS: &[u64] = &[
    0,
    1,
    u64::MAX,
    i64::MIN as u64,
    i64::MAX as u64,
    u32::MAX as u64,
    0x8000_0000,
    0x7fff_ffff,
    abi::CODE_TABLE_LIMIT - 1,
    abi::CODE_TABLE_LIMIT,
    1 << 47,
    (1 << 47) - 1,
    0xffff_8000_0000_0000,
    abi::hostcall::NOT_FOUND,
    abi::limits::MAX_RETURN_LEN,
    abi::limits::MAX_RETURN_LEN + 1,
    abi::limits::MAX_KEY_LEN,
    abi::limits::MAX_KEY_LEN + 1,
    abi::limits::MAX_LOG_LEN,
    abi::limits::MAX_LOG_LEN + 1,
    abi::limits::MAX_ABORT_MESSAGE_LEN + 1,
    abi::limits::MAX_VALUE_LEN + 1,
    64,
    4096,
];
impl Val {
    pub fn v(self) -> u64 {
        match self {
            Val::Small(s) => s as i64 as u64,
            Val::Special(s) => SPECIALS[s as usize % SPECIALS.len()],
            Val::Addr(r, off) => {
                let region = REGIONS[r as usize % REGIONS.len()];
                let base = match region {
                    Region::StackFrame | Region::PoolReg => abi::STACK_TOP - 0x100,
                    r => region_base(r),
                };
                base.wrapping_add(off.v() as u64)
            }
            Val::Any(a) => a,
        }
    }
}

/// A length argument of a host call.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Len {
    Zero,
    Small(u8),
    Medium(u16),
    Special(u8),
    Any(u64),
}
impl Len {
    fn v(self) -> u64 {
        match self {
            Len::Zero => 0,
            Len::Small(s) => s as u64,
            Len::Medium(m) => m as u64,
            Len::Special(s) => SPECIALS[s as usize % SPECIALS.len()],
            Len::Any(a) => a,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Width {
    B,
    W,
    D,
    Q,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AluOp {
    Add,
    Sub,
    And,
    Or,
    Xor,
    Cmp,
    Test,
    Mov,
    Imul,
    Xchg,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum UnOp {
    Not,
    Neg,
    Inc,
    Dec,
    Bswap,
    Mul,
    Div,
    Idiv,
    Movsx,
    Movzx,
    Cqo,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum ShiftOp {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
    Rcl,
    Rcr,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum BitOp {
    Bsf,
    Bsr,
    Popcnt,
    Lzcnt,
    Tzcnt,
    Andn,
    Blsr,
    Pdep,
    Pext,
    Bzhi,
    Shlx,
    Rorx,
    Bt,
    Bts,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Cc(u8);

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum CondUse {
    Cmov,
    Setcc,
    Adc,
    Sbb,
    Pushf,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SseOp {
    Movdqa,
    Paddd,
    Paddq,
    Psubb,
    Pxor,
    Pand,
    Pmullw,
    Pmuludq,
    Pshufb,
    Pmulld,
    Addps,
    Mulps,
    Divps,
    Sqrtps,
    Minps,
    Maxpd,
    Addsd,
    Mulsd,
    Divsd,
    Sqrtsd,
    Cvtdq2ps,
    Cvtps2dq,
    Cvttpd2dq,
    Unpcklps,
    Shufps(u8),
    Pshufd(u8),
    Pslldq(u8),
    Psrlq(u8),
    Pcmpeqb,
    Pminud,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum StrOp {
    Movsb,
    Movsq,
    Stosb,
    Stosq,
    Cmpsb,
    Scasb,
    Lodsb,
}

/// Counts of rep string instructions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Count {
    Zero,
    Small(u8),
    Medium(u16),
    Page,
    Huge(u64),
}
impl Count {
    fn v(self) -> u64 {
        match self {
            Count::Zero => 0,
            Count::Small(s) => s as u64,
            Count::Medium(m) => m as u64,
            Count::Page => 4096,
            Count::Huge(h) => h,
        }
    }
}

/// A host call.
#[derive(Arbitrary, Debug, Clone)]
pub enum HostCall {
    Caller {
        out: Addr,
    },
    SetReturn {
        src: Addr,
        len: Len,
    },
    StorageRead {
        key: Key,
        val: Addr,
        cap: Len,
    },
    StorageWrite {
        key: Key,
        val: Addr,
        len: Len,
    },
    StorageRemove {
        key: Key,
    },
    Log {
        src: Addr,
        len: Len,
    },
    Abort {
        src: Addr,
        len: Len,
    },
    /// Any number, any arguments.
    Raw {
        nr: Val,
        args: [Val; 4],
    },
    /// A number with high bits set over a real one (`nr | 1 << 32`...).
    WideNr {
        nr: u8,
        high: u8,
        args: [Val; 4],
    },
}

/// A storage key: one of [`KEYS`] (prefix of `len` bytes), or any range.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Key {
    Fixed { index: u8, len: u8 },
    Range { addr: Addr, len: Len },
}

/// Deliberately hostile statements.
#[derive(Arbitrary, Debug, Clone)]
pub enum Hostile {
    /// A store to the doorbell page (a forged exit).
    DoorbellStore(Width),
    /// A load from the doorbell page.
    DoorbellLoad,
    /// `push v; ret`.
    PushRet(Val),
    /// `lea r, [label]; push r; ret; <dead>; label:` (a valid return).
    PushLabelRet,
    /// `mov rax, v; jmp rax`.
    JmpReg(Val),
    /// `mov rax, v; call rax`.
    CallReg(Val),
    /// `mov rsp, v` then a push or a ret.
    RspWild(Val, bool),
    /// Pushes until the stack guard page faults.
    StackExhaust,
    /// A function that calls itself forever.
    Recurse,
    /// `jmp $`: runs out of gas.
    Spin,
    /// Set DF and leave it set.
    Std,
    /// `ud2` or `int3`.
    Trap(bool),
    /// Divide by zero.
    DivZero,
    /// An indirect jump to the host-call entry (no return address pushed).
    JmpGate(HostCall),
    /// A misaligned `movdqa` (#GP).
    Misaligned,
    /// An instruction the verifier refuses (a rejection).
    Refused(u8),
    /// Overwrite the current return address with v.
    SmashReturn(Val),
}

/// A statement.
#[derive(Arbitrary, Debug, Clone)]
pub enum Stmt {
    MovImm(R, Val),
    Alu(AluOp, Width, R, R),
    AluImm(AluOp, R, i32),
    Un(UnOp, R),
    Shift(ShiftOp, R, Option<u8>),
    Bits(BitOp, R, R, R),
    Imul3(R, R, i32),
    Load(Width, R, Addr),
    Store(Width, R, Addr),
    StoreImm(Width, Addr, i32),
    Rmw(AluOp, bool, Addr, R),
    Lea(R, Addr),
    Cmpxchg(Addr, R),
    Cond(R, i32, Cc, CondUse, R, R),
    If(R, i32, Cc, Vec<Stmt>),
    IfElse(R, i32, Cc, Vec<Stmt>, Vec<Stmt>),
    BitScanBranch(bool, R, R, Vec<Stmt>),
    Loop(u8, Vec<Stmt>),
    Frame(u8, Vec<Stmt>),
    PushPop(Vec<R>, bool),
    Call(u8),
    CallIndirectReg(u8, R),
    CallIndirectMem(u8),
    JmpIndirectForward(R, Vec<Stmt>),
    JmpIndirectMem(Vec<Stmt>),
    Switch(R, Vec<Vec<Stmt>>),
    Rep(StrOp, bool, Addr, Addr, Count, bool),
    Sse(SseOp, X, X),
    SseFromGpr(X, R, bool),
    SseToGpr(X, R, u8),
    SseLoad(X, Addr, bool),
    SseStore(X, Addr, bool),
    SseCmpBranch(X, X, Cc, Vec<Stmt>),
    Host(HostCall),
    HostResult(Width, Addr),
    Hostile(Hostile),
}

/// How `run` ends.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Epilogue {
    /// Just `ret`.
    Ret,
    /// Dump the pool registers and XMM registers to `.bss` and return them.
    ReturnRegs,
    /// Return a range of memory.
    ReturnRange(Addr, Len),
}

/// Gas limit of the fuzzed call.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Gas {
    Modest,
    Small,
    Tiny,
    Exact(u32),
}
impl Gas {
    pub fn v(self) -> u64 {
        match self {
            Gas::Modest => 1_000_000,
            Gas::Small => 100_000,
            Gas::Tiny => 3_000,
            Gas::Exact(e) => (e as u64 % 1_000_000).max(1),
        }
    }
}

/// A generated contract and the call to make.
#[derive(Arbitrary, Debug, Clone)]
pub struct Program {
    pub main: Vec<Stmt>,
    pub helpers: Vec<Vec<Stmt>>,
    pub data: Vec<u8>,
    pub bss_pages: u8,
    pub epilogue: Epilogue,
    pub input: Vec<u8>,
    /// Pages of filler appended to `input` (0-3), so that inputs span
    /// several pages.
    pub input_pages: u8,
    /// The input of the second kind of call (another caller too).
    pub input2: Vec<u8>,
    pub gas: Gas,
}

/// Most statements emitted (all functions together).
const MAX_STMTS: usize = 400;
/// Most nesting of compound statements.
const MAX_DEPTH: usize = 4;
/// Most helper functions.
const MAX_HELPERS: usize = 6;

struct Emitter {
    a: CodeAssembler,
    helpers: Vec<CodeLabel>,
    /// Index of the function being emitted (`usize::MAX` for `run`).
    current: usize,
    budget: usize,
    depth: usize,
    /// Bytes of stack allocated by enclosing `Frame`s in this function.
    frame: u32,
    /// Jump-table slots in `.rodata` to fill with label addresses.
    rodata_slots: Vec<Option<CodeLabel>>,
    /// Labels emitted for `Recurse` (one helper-like block each).
    extra_funcs: Vec<(CodeLabel, Hostile)>,
}

type Res = Result<(), IcedError>;

fn cc_jump(a: &mut CodeAssembler, cc: Cc, l: CodeLabel) -> Res {
    match cc.0 % 16 {
        0 => a.jo(l),
        1 => a.jno(l),
        2 => a.jb(l),
        3 => a.jae(l),
        4 => a.je(l),
        5 => a.jne(l),
        6 => a.jbe(l),
        7 => a.ja(l),
        8 => a.js(l),
        9 => a.jns(l),
        10 => a.jp(l),
        11 => a.jnp(l),
        12 => a.jl(l),
        13 => a.jge(l),
        14 => a.jle(l),
        _ => a.jg(l),
    }
}

fn cc_cmov(a: &mut CodeAssembler, cc: Cc, d: AsmRegister64, s: AsmRegister64) -> Res {
    match cc.0 % 16 {
        0 => a.cmovo(d, s),
        1 => a.cmovno(d, s),
        2 => a.cmovb(d, s),
        3 => a.cmovae(d, s),
        4 => a.cmove(d, s),
        5 => a.cmovne(d, s),
        6 => a.cmovbe(d, s),
        7 => a.cmova(d, s),
        8 => a.cmovs(d, s),
        9 => a.cmovns(d, s),
        10 => a.cmovp(d, s),
        11 => a.cmovnp(d, s),
        12 => a.cmovl(d, s),
        13 => a.cmovge(d, s),
        14 => a.cmovle(d, s),
        _ => a.cmovg(d, s),
    }
}

fn cc_set(a: &mut CodeAssembler, cc: Cc, d: AsmRegister8) -> Res {
    match cc.0 % 16 {
        0 => a.seto(d),
        1 => a.setno(d),
        2 => a.setb(d),
        3 => a.setae(d),
        4 => a.sete(d),
        5 => a.setne(d),
        6 => a.setbe(d),
        7 => a.seta(d),
        8 => a.sets(d),
        9 => a.setns(d),
        10 => a.setp(d),
        11 => a.setnp(d),
        12 => a.setl(d),
        13 => a.setge(d),
        14 => a.setle(d),
        _ => a.setg(d),
    }
}

impl Emitter {
    /// A memory operand for `addr` (may set `r13` first).
    fn mem(&mut self, addr: &Addr, size: u32) -> Result<AsmMemoryOperand, IcedError> {
        let off = addr.off.v();
        let region = addr.region();
        let base: AsmMemoryOperand = match region {
            Region::StackFrame => {
                if self.frame == 0 {
                    // Below rsp (clobbered by calls, but deterministic).
                    let k = (off.unsigned_abs() % 256) as i32;
                    rsp - (k + 8)
                } else {
                    let k = (off.unsigned_abs() % self.frame as u64) as i32;
                    let k = k - k % size.max(1) as i32;
                    rsp + k
                }
            }
            Region::PoolReg => {
                let r = addr.index.map_or(R(0), |(r, _)| r);
                return Ok(r.q() + (off as i32 % 4096));
            }
            r => {
                let v = region_base(r).wrapping_add(off as u64);
                self.a.mov(r13, v)?;
                r13 + 0
            }
        };
        if let (Some((idx, scale)), false) = (addr.index, region == Region::StackFrame) {
            self.a.and(idx.q(), 0xff)?;
            let scale = [1u8, 2, 4, 8][scale as usize % 4];
            return Ok(r13 + idx.q() * scale);
        }
        Ok(base)
    }

    fn block(&mut self, body: &[Stmt]) -> Res {
        if self.depth >= MAX_DEPTH {
            return Ok(());
        }
        self.depth += 1;
        for s in body {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            self.stmt(s)?;
        }
        self.depth -= 1;
        Ok(())
    }

    fn load_arg(&mut self, reg: AsmRegister64, addr: &Addr) -> Res {
        // The address an Addr denotes, as a value.
        match addr.region() {
            Region::StackFrame => {
                let m = self.mem(addr, 1)?;
                self.a.lea(reg, m)
            }
            Region::PoolReg => {
                let r = addr.index.map_or(R(0), |(r, _)| r);
                if r.q() != reg {
                    self.a.mov(reg, r.q())?;
                }
                Ok(())
            }
            r => self
                .a
                .mov(reg, region_base(r).wrapping_add(addr.off.v() as u64)),
        }
    }

    fn key(&mut self, key: &Key, ptr: AsmRegister64, len: AsmRegister64) -> Res {
        match *key {
            Key::Fixed { index, len: l } => {
                self.a.mov(ptr, DATA_KEYS + 16 * (index as u64 % 4))?;
                self.a.mov(len, 1 + l as u64 % 16)
            }
            Key::Range { addr, len: l } => {
                self.load_arg(ptr, &addr)?;
                self.a.mov(len, l.v())
            }
        }
    }

    /// Loads the host call's registers (not doing the call).
    fn host_args(&mut self, h: &HostCall) -> Res {
        use abi::hostcall as hc;
        // Arguments first (load_arg may use pool registers), number last.
        let nr = match h {
            HostCall::Caller { out } => {
                self.load_arg(rsi, out)?;
                hc::CALLER
            }
            HostCall::SetReturn { src, len } => {
                self.load_arg(rsi, src)?;
                self.a.mov(rdx, len.v())?;
                hc::SET_RETURN
            }
            HostCall::StorageRead { key, val, cap } => {
                self.load_arg(rdx, val)?;
                self.a.mov(rcx, cap.v())?;
                self.key(key, rsi, r8)?;
                self.a.mov(rax, r8)?;
                self.a.mov(r8, rcx)?;
                self.a.mov(rcx, rdx)?;
                self.a.mov(rdx, rax)?;
                hc::STORAGE_READ
            }
            HostCall::StorageWrite { key, val, len } => {
                self.load_arg(rcx, val)?;
                self.a.mov(r8, len.v())?;
                self.key(key, rsi, rdx)?;
                hc::STORAGE_WRITE
            }
            HostCall::StorageRemove { key } => {
                self.key(key, rsi, rdx)?;
                hc::STORAGE_REMOVE
            }
            HostCall::Log { src, len } => {
                self.load_arg(rsi, src)?;
                self.a.mov(rdx, len.v())?;
                hc::LOG
            }
            HostCall::Abort { src, len } => {
                self.load_arg(rsi, src)?;
                self.a.mov(rdx, len.v())?;
                hc::ABORT
            }
            HostCall::Raw { nr, args } => {
                self.a.mov(rsi, args[0].v())?;
                self.a.mov(rdx, args[1].v())?;
                self.a.mov(rcx, args[2].v())?;
                self.a.mov(r8, args[3].v())?;
                nr.v()
            }
            HostCall::WideNr { nr, high, args } => {
                self.a.mov(rsi, args[0].v())?;
                self.a.mov(rdx, args[1].v())?;
                self.a.mov(rcx, args[2].v())?;
                self.a.mov(r8, args[3].v())?;
                (*nr as u64 % 8) | ((*high as u64) << (32 + (*high as u64 % 32)))
            }
        };
        self.a.mov(rdi, nr)
    }

    fn host(&mut self, h: &HostCall) -> Res {
        self.host_args(h)?;
        self.a.call(abi::HOSTCALL_ENTRY)
    }

    fn helper_target(&self, t: u8) -> Option<CodeLabel> {
        let first = if self.current == usize::MAX {
            0
        } else {
            self.current + 1
        };
        let n = self.helpers.len();
        if first >= n {
            return None;
        }
        Some(self.helpers[first + t as usize % (n - first)])
    }

    fn width_mov_store(&mut self, w: Width, m: AsmMemoryOperand, r: R) -> Res {
        match w {
            Width::B => self.a.mov(byte_ptr(m), r.b()),
            Width::W => self.a.mov(word_ptr(m), r.w()),
            Width::D => self.a.mov(dword_ptr(m), r.d()),
            Width::Q => self.a.mov(qword_ptr(m), r.q()),
        }
    }

    fn size(w: Width) -> u32 {
        match w {
            Width::B => 1,
            Width::W => 2,
            Width::D => 4,
            Width::Q => 8,
        }
    }

    fn stmt(&mut self, s: &Stmt) -> Res {
        match s {
            Stmt::MovImm(r, v) => {
                let v = v.v();
                if v <= u32::MAX as u64 {
                    self.a.mov(r.d(), v as u32)
                } else {
                    self.a.mov(r.q(), v)
                }
            }
            Stmt::Alu(op, w, d, s) => match w {
                Width::D => match op {
                    AluOp::Add => self.a.add(d.d(), s.d()),
                    AluOp::Sub => self.a.sub(d.d(), s.d()),
                    AluOp::And => self.a.and(d.d(), s.d()),
                    AluOp::Or => self.a.or(d.d(), s.d()),
                    AluOp::Xor => self.a.xor(d.d(), s.d()),
                    AluOp::Cmp => self.a.cmp(d.d(), s.d()),
                    AluOp::Test => self.a.test(d.d(), s.d()),
                    AluOp::Mov => self.a.mov(d.d(), s.d()),
                    AluOp::Imul => self.a.imul_2(d.d(), s.d()),
                    AluOp::Xchg => self.a.xchg(d.d(), s.d()),
                },
                Width::B => match op {
                    AluOp::Add => self.a.add(d.b(), s.b()),
                    AluOp::Sub => self.a.sub(d.b(), s.b()),
                    AluOp::Xor => self.a.xor(d.b(), s.b()),
                    _ => self.a.mov(d.b(), s.b()),
                },
                Width::W => match op {
                    AluOp::Add => self.a.add(d.w(), s.w()),
                    AluOp::Or => self.a.or(d.w(), s.w()),
                    _ => self.a.mov(d.w(), s.w()),
                },
                Width::Q => match op {
                    AluOp::Add => self.a.add(d.q(), s.q()),
                    AluOp::Sub => self.a.sub(d.q(), s.q()),
                    AluOp::And => self.a.and(d.q(), s.q()),
                    AluOp::Or => self.a.or(d.q(), s.q()),
                    AluOp::Xor => self.a.xor(d.q(), s.q()),
                    AluOp::Cmp => self.a.cmp(d.q(), s.q()),
                    AluOp::Test => self.a.test(d.q(), s.q()),
                    AluOp::Mov => self.a.mov(d.q(), s.q()),
                    AluOp::Imul => self.a.imul_2(d.q(), s.q()),
                    AluOp::Xchg => self.a.xchg(d.q(), s.q()),
                },
            },
            Stmt::AluImm(op, d, i) => match op {
                AluOp::Add => self.a.add(d.q(), *i),
                AluOp::Sub => self.a.sub(d.q(), *i),
                AluOp::And => self.a.and(d.q(), *i),
                AluOp::Or => self.a.or(d.q(), *i),
                AluOp::Xor => self.a.xor(d.q(), *i),
                AluOp::Cmp => self.a.cmp(d.q(), *i),
                AluOp::Test => self.a.test(d.q(), *i),
                _ => self.a.mov(d.q(), *i as i64 as u64),
            },
            Stmt::Un(op, r) => match op {
                UnOp::Not => self.a.not(r.q()),
                UnOp::Neg => self.a.neg(r.q()),
                UnOp::Inc => self.a.inc(r.q()),
                UnOp::Dec => self.a.dec(r.d()),
                UnOp::Bswap => self.a.bswap(r.q()),
                UnOp::Mul => self.a.mul(r.q()),
                UnOp::Div => self.a.div(r.d()),
                UnOp::Idiv => self.a.idiv(r.q()),
                UnOp::Movsx => self.a.movsx(r.q(), r.b()),
                UnOp::Movzx => self.a.movzx(r.d(), r.w()),
                UnOp::Cqo => self.a.cqo(),
            },
            Stmt::Shift(op, r, count) => {
                if matches!(op, ShiftOp::Rcl | ShiftOp::Rcr) {
                    // They read CF: define it.
                    if count.unwrap_or(0) & 1 == 0 {
                        self.a.clc()?;
                    } else {
                        self.a.stc()?;
                    }
                }
                let d = r.q();
                match count {
                    Some(c) => {
                        let c = *c as u32 % 64;
                        match op {
                            ShiftOp::Shl => self.a.shl(d, c),
                            ShiftOp::Shr => self.a.shr(d, c),
                            ShiftOp::Sar => self.a.sar(d, c),
                            ShiftOp::Rol => self.a.rol(d, c),
                            ShiftOp::Ror => self.a.ror(d, c),
                            ShiftOp::Rcl => self.a.rcl(d, c),
                            ShiftOp::Rcr => self.a.rcr(d, c),
                        }
                    }
                    None => match op {
                        ShiftOp::Shl => self.a.shl(d, cl),
                        ShiftOp::Shr => self.a.shr(d, cl),
                        ShiftOp::Sar => self.a.sar(d, cl),
                        ShiftOp::Rol => self.a.rol(d, cl),
                        ShiftOp::Ror => self.a.ror(d, cl),
                        ShiftOp::Rcl => self.a.rcl(d, cl),
                        ShiftOp::Rcr => self.a.rcr(d, cl),
                    },
                }
            }
            Stmt::Bits(op, d, s, t) => match op {
                BitOp::Bsf => self.a.bsf(d.q(), s.q()),
                BitOp::Bsr => self.a.bsr(d.d(), s.d()),
                BitOp::Popcnt => self.a.popcnt(d.q(), s.q()),
                BitOp::Lzcnt => self.a.lzcnt(d.q(), s.q()),
                BitOp::Tzcnt => self.a.tzcnt(d.d(), s.d()),
                BitOp::Andn => self.a.andn(d.q(), s.q(), t.q()),
                BitOp::Blsr => self.a.blsr(d.q(), s.q()),
                BitOp::Pdep => self.a.pdep(d.q(), s.q(), t.q()),
                BitOp::Pext => self.a.pext(d.d(), s.d(), t.d()),
                BitOp::Bzhi => self.a.bzhi(d.q(), s.q(), t.q()),
                BitOp::Shlx => self.a.shlx(d.q(), s.q(), t.q()),
                BitOp::Rorx => self.a.rorx(d.q(), s.q(), t.0 as u32 % 64),
                BitOp::Bt => self.a.bt(d.q(), s.q()),
                BitOp::Bts => self.a.bts(d.q(), t.0 as u32 % 64),
            },
            Stmt::Imul3(d, s, i) => self.a.imul_3(d.q(), s.q(), *i),
            Stmt::Load(w, r, addr) => {
                let m = self.mem(addr, Self::size(*w))?;
                match w {
                    Width::B => self.a.movzx(r.d(), byte_ptr(m)),
                    Width::W => self.a.movsx(r.q(), word_ptr(m)),
                    Width::D => self.a.mov(r.d(), dword_ptr(m)),
                    Width::Q => self.a.mov(r.q(), qword_ptr(m)),
                }
            }
            Stmt::Store(w, r, addr) => {
                let m = self.mem(addr, Self::size(*w))?;
                self.width_mov_store(*w, m, *r)
            }
            Stmt::StoreImm(w, addr, i) => {
                let m = self.mem(addr, Self::size(*w))?;
                match w {
                    Width::B => self.a.mov(byte_ptr(m), *i as i8 as i32),
                    Width::W => self.a.mov(word_ptr(m), *i as i16 as i32),
                    Width::D => self.a.mov(dword_ptr(m), *i),
                    Width::Q => self.a.mov(qword_ptr(m), *i),
                }
            }
            Stmt::Rmw(op, lock, addr, r) => {
                let m = qword_ptr(self.mem(addr, 8)?);
                if *lock {
                    let _ = self.a.lock();
                }
                match op {
                    AluOp::Add => self.a.add(m, r.q()),
                    AluOp::Sub => self.a.sub(m, r.q()),
                    AluOp::And => self.a.and(m, r.q()),
                    AluOp::Or => self.a.or(m, r.q()),
                    AluOp::Xor => self.a.xor(m, r.q()),
                    AluOp::Xchg => self.a.xchg(m, r.q()),
                    AluOp::Imul => self.a.xadd(m, r.q()),
                    _ => {
                        // `lock` is not valid on cmp/test/mov.
                        if *lock {
                            self.a.add(m, r.q())
                        } else {
                            self.a.cmp(m, r.q())
                        }
                    }
                }
            }
            Stmt::Lea(r, addr) => {
                let m = self.mem(addr, 1)?;
                self.a.lea(r.q(), m)
            }
            Stmt::Cmpxchg(addr, r) => {
                let m = qword_ptr(self.mem(addr, 8)?);
                let _ = self.a.lock();
                self.a.cmpxchg(m, r.q())
            }
            Stmt::Cond(r, imm, cc, use_, d, s) => {
                self.a.cmp(r.q(), *imm)?;
                match use_ {
                    CondUse::Cmov => cc_cmov(&mut self.a, *cc, d.q(), s.q()),
                    CondUse::Setcc => cc_set(&mut self.a, *cc, d.b()),
                    CondUse::Adc => self.a.adc(d.q(), s.q()),
                    CondUse::Sbb => self.a.sbb(d.d(), s.d()),
                    CondUse::Pushf => {
                        self.a.pushfq()?;
                        self.a.pop(d.q())
                    }
                }
            }
            Stmt::If(r, imm, cc, body) => {
                let mut end = self.a.create_label();
                self.a.cmp(r.q(), *imm)?;
                cc_jump(&mut self.a, *cc, end)?;
                self.block(body)?;
                self.a.set_label(&mut end)?;
                self.a.nop()
            }
            Stmt::IfElse(r, imm, cc, then, other) => {
                let mut els = self.a.create_label();
                let mut end = self.a.create_label();
                self.a.test(r.q(), *imm)?;
                cc_jump(&mut self.a, *cc, els)?;
                self.block(then)?;
                self.a.jmp(end)?;
                self.a.set_label(&mut els)?;
                self.a.nop()?;
                self.block(other)?;
                self.a.set_label(&mut end)?;
                self.a.nop()
            }
            Stmt::BitScanBranch(bsr, d, s, body) => {
                let mut end = self.a.create_label();
                if *bsr {
                    self.a.bsr(d.q(), s.q())?;
                } else {
                    self.a.bsf(d.q(), s.q())?;
                }
                self.a.jz(end)?;
                self.block(body)?;
                self.a.set_label(&mut end)?;
                self.a.nop()
            }
            Stmt::Loop(n, body) => {
                let mut top = self.a.create_label();
                self.a.push(r15)?;
                self.a.mov(r15d, 1 + *n as u32 % 12)?;
                self.a.set_label(&mut top)?;
                self.a.nop()?;
                self.block(body)?;
                self.a.dec(r15)?;
                self.a.jnz(top)?;
                self.a.pop(r15)
            }
            Stmt::Frame(n, body) => {
                let size = 16 * (1 + *n as u32 % 64);
                self.a.sub(rsp, size as i32)?;
                let saved = self.frame;
                self.frame = size;
                self.block(body)?;
                self.frame = saved;
                self.a.add(rsp, size as i32)
            }
            Stmt::PushPop(regs, swap) => {
                let regs: Vec<R> = regs.iter().take(6).copied().collect();
                for r in &regs {
                    self.a.push(r.q())?;
                }
                let saved = self.frame;
                self.frame = 0;
                let mut pops = regs.clone();
                if !*swap {
                    pops.reverse();
                }
                for r in &pops {
                    self.a.pop(r.q())?;
                }
                self.frame = saved;
                Ok(())
            }
            Stmt::Call(t) => match self.helper_target(*t) {
                Some(l) => self.a.call(l),
                None => Ok(()),
            },
            Stmt::CallIndirectReg(t, r) => match self.helper_target(*t) {
                Some(l) => {
                    self.a.lea(r.q(), ptr(l))?;
                    self.a.call(r.q())
                }
                None => Ok(()),
            },
            Stmt::CallIndirectMem(t) => {
                // Through the function table in .data (filled after assembly).
                if self.helper_target(*t).is_none() {
                    return Ok(());
                }
                let first = if self.current == usize::MAX {
                    0
                } else {
                    self.current + 1
                };
                let n = self.helpers.len();
                let slot = first + *t as usize % (n - first);
                self.a.mov(r13, DATA_FNTABLE + 8 * slot as u64)?;
                self.a.call(qword_ptr(r13))
            }
            Stmt::JmpIndirectForward(r, skipped) => {
                let mut l = self.a.create_label();
                self.a.lea(r.q(), ptr(l))?;
                self.a.jmp(r.q())?;
                self.block(skipped)?;
                self.a.set_label(&mut l)?;
                self.a.nop()
            }
            Stmt::JmpIndirectMem(skipped) => {
                let mut l = self.a.create_label();
                let slot = self.rodata_slots.len();
                self.rodata_slots.push(None);
                self.a.mov(r13, RODATA + 8 * slot as u64)?;
                self.a.jmp(qword_ptr(r13))?;
                self.block(skipped)?;
                self.a.set_label(&mut l)?;
                self.rodata_slots[slot] = Some(l);
                self.a.nop()
            }
            Stmt::Switch(sel, arms) => {
                let n = arms.len().clamp(1, 4).next_power_of_two();
                let first = self.rodata_slots.len();
                let mut end = self.a.create_label();
                let mut labels: Vec<CodeLabel> = (0..n).map(|_| self.a.create_label()).collect();
                self.rodata_slots.extend((0..n).map(|_| None));
                self.a.mov(r13, RODATA + 8 * first as u64)?;
                self.a.and(sel.q(), (n - 1) as i32)?;
                self.a.jmp(qword_ptr(r13 + sel.q() * 8))?;
                for (i, l) in labels.iter_mut().enumerate() {
                    self.a.set_label(l)?;
                    self.rodata_slots[first + i] = Some(*l);
                    self.a.nop()?;
                    if let Some(arm) = arms.get(i) {
                        self.block(arm)?;
                    }
                    self.a.jmp(end)?;
                }
                self.a.set_label(&mut end)?;
                self.a.nop()
            }
            Stmt::Rep(op, rep, dst, src, count, down) => {
                // rsi/rdi/rcx are pool registers: set them last.
                let d = match dst.region() {
                    Region::StackFrame | Region::PoolReg => abi::STACK_TOP - 0x800,
                    r => region_base(r).wrapping_add(dst.off.v() as u64),
                };
                let s = match src.region() {
                    Region::StackFrame | Region::PoolReg => abi::STACK_TOP - 0x1000,
                    r => region_base(r).wrapping_add(src.off.v() as u64),
                };
                self.a.mov(rdi, d)?;
                self.a.mov(rsi, s)?;
                self.a.mov(rcx, count.v())?;
                if *down {
                    self.a.std()?;
                }
                if *rep {
                    match op {
                        StrOp::Cmpsb => self.a.repe(),
                        StrOp::Scasb => self.a.repne(),
                        _ => self.a.rep(),
                    };
                }
                match op {
                    StrOp::Movsb => self.a.movsb()?,
                    StrOp::Movsq => self.a.movsq()?,
                    StrOp::Stosb => self.a.stosb()?,
                    StrOp::Stosq => self.a.stosq()?,
                    StrOp::Cmpsb => self.a.cmpsb()?,
                    StrOp::Scasb => self.a.scasb()?,
                    StrOp::Lodsb => {
                        if *rep {
                            // rep lodsb is legal but odd; fine.
                        }
                        self.a.lodsb()?
                    }
                }
                if *down {
                    self.a.cld()?;
                }
                Ok(())
            }
            Stmt::Sse(op, d, s) => {
                let (d, s) = (d.x(), s.x());
                match op {
                    SseOp::Movdqa => self.a.movdqa(d, s),
                    SseOp::Paddd => self.a.paddd(d, s),
                    SseOp::Paddq => self.a.paddq(d, s),
                    SseOp::Psubb => self.a.psubb(d, s),
                    SseOp::Pxor => self.a.pxor(d, s),
                    SseOp::Pand => self.a.pand(d, s),
                    SseOp::Pmullw => self.a.pmullw(d, s),
                    SseOp::Pmuludq => self.a.pmuludq(d, s),
                    SseOp::Pshufb => self.a.pshufb(d, s),
                    SseOp::Pmulld => self.a.pmulld(d, s),
                    SseOp::Addps => self.a.addps(d, s),
                    SseOp::Mulps => self.a.mulps(d, s),
                    SseOp::Divps => self.a.divps(d, s),
                    SseOp::Sqrtps => self.a.sqrtps(d, s),
                    SseOp::Minps => self.a.minps(d, s),
                    SseOp::Maxpd => self.a.maxpd(d, s),
                    SseOp::Addsd => self.a.addsd(d, s),
                    SseOp::Mulsd => self.a.mulsd(d, s),
                    SseOp::Divsd => self.a.divsd(d, s),
                    SseOp::Sqrtsd => self.a.sqrtsd(d, s),
                    SseOp::Cvtdq2ps => self.a.cvtdq2ps(d, s),
                    SseOp::Cvtps2dq => self.a.cvtps2dq(d, s),
                    SseOp::Cvttpd2dq => self.a.cvttpd2dq(d, s),
                    SseOp::Unpcklps => self.a.unpcklps(d, s),
                    SseOp::Shufps(i) => self.a.shufps(d, s, *i as u32),
                    SseOp::Pshufd(i) => self.a.pshufd(d, s, *i as u32),
                    SseOp::Pslldq(i) => self.a.pslldq(d, *i as u32 % 17),
                    SseOp::Psrlq(i) => self.a.psrlq(d, *i as u32),
                    SseOp::Pcmpeqb => self.a.pcmpeqb(d, s),
                    SseOp::Pminud => self.a.pminud(d, s),
                }
            }
            Stmt::SseFromGpr(x, r, int) => {
                if *int {
                    self.a.cvtsi2sd(x.x(), r.q())
                } else {
                    self.a.movq(x.x(), r.q())
                }
            }
            Stmt::SseToGpr(x, r, how) => match how % 4 {
                0 => self.a.movq(r.q(), x.x()),
                1 => self.a.cvttsd2si(r.q(), x.x()),
                2 => self.a.pmovmskb(r.d(), x.x()),
                _ => self.a.pextrd(r.d(), x.x(), *how as u32 % 4),
            },
            Stmt::SseLoad(x, addr, aligned) => {
                let m = xmmword_ptr(self.mem(addr, 16)?);
                if *aligned {
                    self.a.movdqa(x.x(), m)
                } else {
                    self.a.movdqu(x.x(), m)
                }
            }
            Stmt::SseStore(x, addr, aligned) => {
                let m = xmmword_ptr(self.mem(addr, 16)?);
                if *aligned {
                    self.a.movaps(m, x.x())
                } else {
                    self.a.movups(m, x.x())
                }
            }
            Stmt::SseCmpBranch(x, y, cc, body) => {
                let mut end = self.a.create_label();
                self.a.ucomisd(x.x(), y.x())?;
                cc_jump(&mut self.a, *cc, end)?;
                self.block(body)?;
                self.a.set_label(&mut end)?;
                self.a.nop()
            }
            Stmt::Host(h) => self.host(h),
            Stmt::HostResult(w, addr) => {
                let m = self.mem(addr, Self::size(*w))?;
                self.width_mov_store(*w, m, R(0))
            }
            Stmt::Hostile(h) => self.hostile(h),
        }
    }

    fn hostile(&mut self, h: &Hostile) -> Res {
        match h {
            Hostile::DoorbellStore(w) => {
                self.a.mov(r13, abi::DOORBELL_VA)?;
                self.width_mov_store(*w, r13 + 0, R(0))
            }
            Hostile::DoorbellLoad => {
                self.a.mov(r13, abi::DOORBELL_VA)?;
                self.a.mov(rax, qword_ptr(r13))
            }
            Hostile::PushRet(v) => {
                let mut dead = self.a.create_label();
                self.a.mov(rax, v.v())?;
                self.a.push(rax)?;
                self.a.ret()?;
                self.a.set_label(&mut dead)?;
                self.a.nop()
            }
            Hostile::PushLabelRet => {
                let mut l = self.a.create_label();
                self.a.lea(rax, ptr(l))?;
                self.a.push(rax)?;
                self.a.ret()?;
                self.a.int3()?;
                self.a.set_label(&mut l)?;
                self.a.nop()
            }
            Hostile::JmpReg(v) => {
                self.a.mov(rax, v.v())?;
                self.a.jmp(rax)?;
                self.a.int3()
            }
            Hostile::CallReg(v) => {
                self.a.mov(rax, v.v())?;
                self.a.call(rax)
            }
            Hostile::RspWild(v, ret) => {
                self.a.mov(rsp, v.v())?;
                if *ret {
                    self.a.ret()?;
                    self.a.int3()
                } else {
                    self.a.push(rax)
                }
            }
            Hostile::StackExhaust => {
                let mut top = self.a.create_label();
                self.a.set_label(&mut top)?;
                self.a.push(rax)?;
                self.a.jmp(top)
            }
            Hostile::Recurse => {
                let l = self.a.create_label();
                self.extra_funcs.push((l, Hostile::Recurse));
                self.a.call(l)
            }
            Hostile::Spin => {
                let mut top = self.a.create_label();
                self.a.set_label(&mut top)?;
                self.a.jmp(top)
            }
            Hostile::Std => self.a.std(),
            Hostile::Trap(ud) => {
                if *ud {
                    self.a.ud2()
                } else {
                    self.a.int3()
                }
            }
            Hostile::DivZero => {
                self.a.xor(ecx, ecx)?;
                self.a.div(rcx)
            }
            Hostile::JmpGate(hc) => {
                self.host_args(hc)?;
                self.a.mov(rax, abi::HOSTCALL_ENTRY)?;
                self.a.jmp(rax)?;
                self.a.int3()
            }
            Hostile::Misaligned => {
                self.a.mov(r13, BSS + 1)?;
                self.a.movdqa(xmm0, xmmword_ptr(r13))
            }
            Hostile::Refused(k) => match k % 5 {
                0 => self.a.rdtsc(),
                1 => self.a.cpuid(),
                2 => self.a.syscall(),
                3 => self.a.movq(rax, mm0),
                _ => self.a.fld1(),
            },
            Hostile::SmashReturn(v) => {
                // [rsp + frame] is the return address when no push is pending.
                self.a.mov(rax, v.v())?;
                self.a.mov(qword_ptr(rsp + self.frame as i32), rax)
            }
        }
    }

    fn epilogue(&mut self, e: &Epilogue) -> Res {
        match e {
            Epilogue::Ret => Ok(()),
            Epilogue::ReturnRegs => {
                self.a.mov(r13, DUMP)?;
                for (i, r) in POOL.iter().enumerate() {
                    self.a.mov(qword_ptr(r13 + 8 * i as i32), *r)?;
                }
                for (i, x) in XMM.iter().enumerate() {
                    self.a
                        .movdqu(xmmword_ptr(r13 + (128 + 16 * i) as i32), *x)?;
                }
                self.a.mov(rsi, DUMP)?;
                self.a.mov(rdx, 128u64 + 256)?;
                self.a.mov(rdi, abi::hostcall::SET_RETURN)?;
                self.a.call(abi::HOSTCALL_ENTRY)
            }
            Epilogue::ReturnRange(addr, len) => {
                self.load_arg(rsi, addr)?;
                self.a
                    .mov(rdx, len.v() % (abi::limits::MAX_RETURN_LEN + 2))?;
                self.a.mov(rdi, abi::hostcall::SET_RETURN)?;
                self.a.call(abi::HOSTCALL_ENTRY)
            }
        }
    }
}

/// An assembled program: the ELF and the call to make.
pub struct Built {
    pub elf: Vec<u8>,
    pub input: Vec<u8>,
    pub input2: Vec<u8>,
    pub gas: u64,
}

/// Assembles `p` into an ELF with one exported method, `run`.
pub fn assemble(p: &Program) -> Result<Built, String> {
    assemble_inner(p)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "text too large".to_string())
}

fn assemble_inner(p: &Program) -> Result<Option<Built>, IcedError> {
    let mut e = Emitter {
        a: CodeAssembler::new(64)?,
        helpers: Vec::new(),
        current: usize::MAX,
        budget: MAX_STMTS,
        depth: 0,
        frame: 0,
        rodata_slots: Vec::new(),
        extra_funcs: Vec::new(),
    };
    let helpers: Vec<&Vec<Stmt>> = p.helpers.iter().take(MAX_HELPERS).collect();
    e.helpers = (0..helpers.len()).map(|_| e.a.create_label()).collect();
    let mut run = e.a.create_label();
    e.a.set_label(&mut run)?;
    e.a.nop()?;
    e.block(&p.main)?;
    e.epilogue(&p.epilogue)?;
    e.a.ret()?;
    let mut ends = Vec::new();
    for (i, body) in helpers.iter().enumerate() {
        e.current = i;
        e.frame = 0;
        let mut l = e.helpers[i];
        e.a.set_label(&mut l)?;
        e.helpers[i] = l;
        e.a.nop()?;
        e.block(body)?;
        e.a.ret()?;
        let mut end = e.a.create_label();
        e.a.set_label(&mut end)?;
        e.a.int3()?;
        ends.push(end);
    }
    let extra = std::mem::take(&mut e.extra_funcs);
    for (mut l, _) in extra {
        e.a.set_label(&mut l)?;
        e.a.call(l)?;
        e.a.ret()?;
    }
    let result =
        e.a.assemble_options(TEXT, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let text = result.inner.code_buffer.clone();
    if text.len() as u64 > elf::TEXT_MAX {
        return Ok(None);
    }
    let ip = |l: &CodeLabel| result.label_ip(l);
    // .rodata: jump-table slots.
    let mut rodata = Vec::new();
    for l in e.rodata_slots.iter().take(elf::RODATA_SIZE as usize / 8) {
        let v = match l {
            Some(l) => ip(l)?,
            None => 0,
        };
        rodata.extend_from_slice(&v.to_le_bytes());
    }
    if rodata.is_empty() {
        rodata.extend_from_slice(&[0x5a; 64]);
    }
    // .data: keys, the function table, then the fuzzer's bytes.
    let mut data = Vec::new();
    for k in KEYS {
        data.extend_from_slice(k);
    }
    for i in 0..8 {
        let v = match e.helpers.get(i) {
            Some(l) => ip(l)?,
            None => 0,
        };
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend(p.data.iter().take((elf::DATA_SIZE - 128) as usize));
    let mut symbols = vec![Symbol {
        name: "run".into(),
        addr: ip(&run)?,
        size: 0,
        global: true,
    }];
    for (i, l) in e.helpers.iter().enumerate() {
        let start = ip(l)?;
        symbols.push(Symbol {
            name: format!("helper{i}"),
            addr: start,
            size: ip(&ends[i])? - start,
            global: false,
        });
    }
    let spec = elf::Spec {
        text,
        rodata,
        data,
        bss_size: 0x1000 * (1 + p.bss_pages as u64 % 4),
        symbols,
    };
    Ok(Some(Built {
        elf: elf::write(&spec),
        input: {
            let mut input: Vec<u8> = p.input.iter().take(4096).copied().collect();
            let filler = 4096 * (p.input_pages as usize % 4);
            input.extend((0..filler).map(|i| 0xa5 ^ i as u8));
            input
        },
        input2: p.input2.iter().take(512).copied().collect(),
        gas: p.gas.v(),
    }))
}
