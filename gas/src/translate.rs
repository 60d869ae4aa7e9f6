//! Translation of verified contract code into prepared code.
//!
//! The contract's code is decoded (a linear sweep: the verifier has proven
//! every byte of every executable section decodes, rule 2), split into basic
//! blocks, and re-emitted at [`abi::PREPARED_CODE_BASE`] with iced-x86's
//! `BlockEncoder`, which relocates direct branches and RIP-relative operands
//! (data stays at its original addresses; the contract's own code pages stay
//! mapped read-only, not executable). The changes, and nothing else:
//!
//! * **Block charges.** A block starts at the first instruction of a
//!   section, a direct branch target, a function symbol, and after any
//!   instruction that is not straight-line (branch, call, return, trap). Its
//!   head gets `psubq mmK, [rip + c]` where the constant `c` (read-only, at
//!   the start of the prepared code) is the sum of the block's
//!   [`instruction_cost`]s and `mmK` one of four gas counters, `mm0`..`mm3`
//!   in turn ([`COUNTERS`]; the gas left is their sum). The verifier rejects
//!   every instruction that names an MMX register, every x87 instruction and
//!   every FPU-state save or restore, so contract code can neither read nor
//!   change it. `psubq` changes no flag and no other register.
//! * **The rep rule.** Before a `rep` string instruction, a flag-free MMX
//!   sequence subtracts its count (clamped, see [`crate::cost`]) from `mm0`.
//! * **Absolute data addresses.** Every RIP-relative memory operand
//!   becomes the absolute `[disp32]` of the same address (all contract
//!   addresses are below 2^31), so `lea` of a code label yields the label's
//!   *original* address, and a load from `.text` reads the original code
//!   bytes (the contract's code pages stay mapped read-only), as natively.
//! * **The code table.** Indirect jumps, indirect calls and returns are
//!   checked against one table behind the GS base
//!   ([`abi::CODE_TABLE_BASE`]), indexed by the full 64-bit target: first
//!   `cmp target, CODE_TABLE_LIMIT; jae trap` (no high bit survives it),
//!   then the slot's value is the prepared address to go to. Valid slots:
//!   every verified instruction start (its prepared landing, gas charged),
//!   every prepared return site (the address after a prepared `call`,
//!   itself), and the two runtime entries the VMM adds. Through a register
//!   `r`: `cmp r, LIMIT; jae trap; cmp rsp, rsp; jmp/call qword gs:[r*8]`.
//!   Through memory, the target is loaded into `rax` (saved with a `push`),
//!   checked, looked up, stored in the scratch slot below the restored
//!   `rsp`, and jumped to through it. A return checks `[rsp]` the same way
//!   and replaces it by its slot before `ret`. Calls stay real `call`s
//!   (pushing prepared return addresses), so the CPU's return-stack
//!   predictor keeps working; a return address read from the stack is
//!   therefore a prepared address (part of [`TRANSLATION_VERSION`]), valid
//!   as a later jump, call or return target. Each check's failure path is
//!   its own `ud2` (a [`CheckSite`]) so the VMM can name the instruction.
//! * **Flags at indirect transfers.** Before every return and indirect jump
//!   or call, `cmp rsp, rsp` sets the six arithmetic flags to a fixed value
//!   (ZF = PF = 1, the others 0): the flag model the verifier's rule 4
//!   assumes at return sites and indirect targets.
//! * **BSF/BSR made deterministic.** Intel leaves the destination undefined
//!   for a zero source, AMD leaves it unchanged (Intel SDM Vol. 2A, BSF and
//!   BSR; AMD APM Vol. 3). `bsf/bsr dst, src` becomes `test src, src; jz
//!   next; bsf/bsr dst, src`: for a zero source the destination keeps all
//!   its 64 bits and ZF = 1 on every CPU.
//! * **No LOCK prefix** (translation 3). A `lock`-prefixed instruction is
//!   emitted without the prefix: one vCPU and no devices observe no
//!   difference, and a locked access that splits a cache line takes a bus
//!   lock of microseconds (`crate::cost`). `xchg` with memory stays locked
//!   (the lock is implicit) and is priced instead.
//! * **Landing mid-block.** An indirect branch may land on any verified
//!   instruction start, also one inside a block whose head charge it would
//!   skip. The table slot of such an instruction points to a stub that
//!   charges the rest of the block and jumps to it.
//!
//! Translation is linear in the code size: one decoding pass, two passes
//! over the instructions, and the `BlockEncoder` (which iterates branch
//! sizes to a fixed point, a few passes).

use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Code, Decoder, DecoderOptions, FlowControl, Formatter,
    Instruction, InstructionBlock, IntelFormatter, MemoryOperand, Mnemonic, OpKind, Register,
};
use nativm_abi as abi;
use nativm_verifier::elf::{CodeRegion, FunctionSymbol};
use serde::{Deserialize, Serialize};

use crate::cost::{instruction_cost, is_rep_string, string_operand, REP_HUGE_COUNT_CHARGE};

/// Version of the translation scheme (what [`Translation`] holds and how
/// the prepared code checks branches). Part of the prepared-image cache key.
pub const TRANSLATION_VERSION: u32 = 3;

/// Why code could not be translated.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// An instruction the translation cannot express; `address` is its
    /// original address.
    #[error("cannot translate `{disassembly}` at {address:#x}: {reason}")]
    Unsupported {
        /// Original guest address of the instruction.
        address: u64,
        /// Intel-syntax disassembly.
        disassembly: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The prepared code would not fit its region
    /// ([`abi::PREPARED_CODE_BASE`]..[`abi::PREPARED_CODE_END`]).
    #[error("prepared code is {bytes} bytes, more than the {limit} bytes of its region")]
    TooLarge {
        /// Size of the prepared code, in bytes.
        bytes: u64,
        /// Size of the region, in bytes.
        limit: u64,
    },
    /// iced-x86's block encoder refused the instructions.
    #[error("encoding the prepared code failed: {0}")]
    Encoder(String),
}

/// Counts describing one translation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslationStats {
    /// Bytes of original code (executable sections).
    pub code_bytes: u64,
    /// Bytes of prepared code, constants and stubs included.
    pub prepared_bytes: u64,
    /// Original instructions.
    pub instructions: u64,
    /// Basic blocks (one gas charge each).
    pub blocks: u64,
    /// Landing stubs for instruction starts inside blocks.
    pub stubs: u64,
    /// Indirect jumps and calls rewritten to go through the code table.
    pub indirect_branches: u64,
    /// Returns rewritten to check the code table.
    pub returns: u64,
    /// RIP-relative memory operands made absolute.
    pub absolute_operands: u64,
    /// `bsf`/`bsr` instructions made deterministic for a zero source.
    pub bit_scans: u64,
    /// `rep` string instructions charged by their count.
    pub rep_strings: u64,
}

/// A method's entry in the prepared code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedMethod {
    /// Symbol name.
    pub name: String,
    /// Original address (the ELF symbol's value).
    pub original: u64,
    /// Address of its first block's charge in the prepared code.
    pub entry: u64,
}

/// The result of translating a contract's code: everything the VMM needs
/// besides the ELF's segments. All addresses are guest virtual addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    /// Guest address of `code[0]` ([`abi::PREPARED_CODE_BASE`]).
    pub base: u64,
    /// The prepared code region: gas constants, then code, then stubs.
    pub code: Vec<u8>,
    /// Code-table contents: `(original instruction start, prepared address
    /// to run it from)` for every verified instruction start, sorted by
    /// original address.
    pub branch_targets: Vec<(u32, u32)>,
    /// Every prepared return site (the address after a prepared call),
    /// sorted: each is its own code-table slot.
    pub return_sites: Vec<u32>,
    /// The failure paths of the checked transfers, sorted by `stub`.
    pub check_sites: Vec<CheckSite>,
    /// `(prepared address, original address)` of every translated original
    /// instruction, sorted by prepared address, for naming trap locations.
    pub address_map: Vec<(u32, u32)>,
    /// Exported methods, by name.
    pub methods: Vec<PreparedMethod>,
    /// Counts.
    pub stats: TranslationStats,
}

/// What a [`CheckSite`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// An indirect jump or call through general register `register`
    /// (0 = `rax` .. 15 = `r15`, the hardware numbering).
    IndirectRegister {
        /// Hardware number of the register holding the target.
        register: u8,
    },
    /// An indirect jump or call through memory; when the check fails
    /// `rax` holds the target, or its invalid slot
    /// (`abi::INVALID_TARGET_BASE` + target).
    IndirectMemory,
    /// A return; the target is at `[rsp]` when the check fails.
    Return,
}

/// The failure path of one check of a transfer: a `ud2` at `stub` (a
/// prepared address) reached when the target is at or above
/// [`abi::CODE_TABLE_LIMIT`], or (for returns and transfers through
/// memory, which check the slot they looked up too) when its slot is
/// invalid. A transfer may have two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSite {
    /// Prepared address of the `ud2`.
    pub stub: u32,
    /// Original address of the checked instruction.
    pub original: u32,
    /// What was checked, and where the rejected target is.
    pub kind: CheckKind,
}

impl Translation {
    /// The check site whose `ud2` is at prepared address `rip`, if any.
    pub fn check_site(&self, rip: u64) -> Option<&CheckSite> {
        let r = u32::try_from(rip).ok()?;
        let i = self.check_sites.binary_search_by_key(&r, |c| c.stub).ok()?;
        self.check_sites.get(i)
    }

    /// The original address of the instruction whose prepared code contains
    /// `prepared` (the nearest translated instruction at or before it), or
    /// `None` outside the prepared code.
    pub fn original_address(&self, prepared: u64) -> Option<u64> {
        if prepared < self.base || prepared >= self.base + self.code.len() as u64 {
            return None;
        }
        let p = u32::try_from(prepared).ok()?;
        let i = self.address_map.partition_point(|&(a, _)| a <= p);
        Some(u64::from(self.address_map.get(i.checked_sub(1)?)?.1))
    }

    /// The prepared address that runs the instruction at original address
    /// `original` (from the branch table), if it is a verified start.
    pub fn prepared_address(&self, original: u64) -> Option<u64> {
        let o = u32::try_from(original).ok()?;
        let i = self
            .branch_targets
            .binary_search_by_key(&o, |&(a, _)| a)
            .ok()?;
        Some(u64::from(self.branch_targets[i].1))
    }
}

fn unsupported(instr: &Instruction, reason: &str) -> TranslateError {
    let mut formatter = IntelFormatter::new();
    let mut disassembly = String::new();
    formatter.format(instr, &mut disassembly);
    TranslateError::Unsupported {
        address: instr.ip(),
        disassembly,
        reason: reason.into(),
    }
}

fn encode_err(e: iced_x86::IcedError) -> TranslateError {
    TranslateError::Encoder(e.to_string())
}

/// The constants the prepared code reads, at the start of its region.
struct Pool {
    /// Sorted distinct block costs; constant `k` is at `costs_base + 8 k`.
    costs: Vec<u64>,
    costs_base: u64,
}

/// Constant 0 (for the rep rule's compare).
const POOL_ZERO: u64 = abi::PREPARED_CODE_BASE;
/// Constant [`REP_HUGE_COUNT_CHARGE`].
const POOL_HUGE: u64 = abi::PREPARED_CODE_BASE + 8;

impl Pool {
    fn address(&self, cost: u64) -> u64 {
        let k = self
            .costs
            .binary_search(&cost)
            .expect("every block cost is in the pool");
        self.costs_base + 8 * k as u64
    }
}

/// The gas counters block charges rotate over: consecutive blocks subtract
/// from different registers, so that the charges of a loop of short blocks
/// do not form one dependency chain (one run each: the sieve's metering
/// overhead per round went from 9.0% to 6.8%). The gas left is their sum.
pub const COUNTERS: [Register; 4] = [Register::MM0, Register::MM1, Register::MM2, Register::MM3];

fn charge(pool: &Pool, cost: u64, counter: Register) -> Result<Instruction, TranslateError> {
    // iced takes the target of a RIP-relative operand as an `i64`
    // displacement; the pool is in the prepared code, far below 2^63, so
    // the reinterpretation keeps the address.
    let target = pool.address(cost).cast_signed();
    Instruction::with2(
        Code::Psubq_mm_mmm64,
        counter,
        MemoryOperand::with_base_displ(Register::RIP, target),
    )
    .map_err(encode_err)
}

/// `mm0 -= clamped count` for a `rep` string instruction (see
/// [`crate::cost`]): flag-free, uses `mm4`/`mm5` as scratch.
fn rep_charge(address_size: u32) -> Result<Vec<Instruction>, TranslateError> {
    use Register::*;
    // As in `charge`: the pool address as iced's `i64` RIP-relative target.
    let rip = |addr: u64| MemoryOperand::with_base_displ(RIP, addr.cast_signed());
    let e = encode_err;
    if address_size != 8 {
        // ecx (or cx) counts: below 2^32, no clamp needed.
        return Ok(vec![
            Instruction::with2(Code::Movd_mm_rm32, MM4, ECX).map_err(e)?,
            Instruction::with2(Code::Psubq_mm_mmm64, MM0, MM4).map_err(e)?,
        ]);
    }
    Ok(vec![
        // mm4 = rcx; mm5 = high half of rcx.
        Instruction::with2(Code::Movq_mm_rm64, MM4, RCX).map_err(e)?,
        Instruction::with2(Code::Movq_mm_mmm64, MM5, MM4).map_err(e)?,
        Instruction::with2(Code::Psrlq_mm_imm8, MM5, 32u32).map_err(e)?,
        // mask = all ones if the high half is zero.
        Instruction::with2(Code::Pcmpeqd_mm_mmm64, MM5, rip(POOL_ZERO)).map_err(e)?,
        Instruction::with2(Code::Punpckldq_mm_mmm32, MM5, MM5).map_err(e)?,
        // charge = (rcx & mask) | (HUGE & !mask)
        Instruction::with2(Code::Pand_mm_mmm64, MM4, MM5).map_err(e)?,
        Instruction::with2(Code::Pandn_mm_mmm64, MM5, rip(POOL_HUGE)).map_err(e)?,
        Instruction::with2(Code::Por_mm_mmm64, MM4, MM5).map_err(e)?,
        Instruction::with2(Code::Psubq_mm_mmm64, MM0, MM4).map_err(e)?,
    ])
}

/// `cmp rsp, rsp`: the fixed flags at indirect transfers.
fn clobber_flags() -> Result<Instruction, TranslateError> {
    Instruction::with2(Code::Cmp_rm64_r64, Register::RSP, Register::RSP).map_err(encode_err)
}

fn stack_slot(offset: i64) -> MemoryOperand {
    MemoryOperand::with_base_displ(Register::RSP, offset)
}

/// `qword gs:[index*8]`: the code-table slot of the 64-bit value in `index`.
fn table_slot(index: Register) -> MemoryOperand {
    MemoryOperand::new(Register::None, index, 8, 0, 4, false, Register::GS)
}

/// The limit of the code table as the sign-extended immediate of a compare.
const LIMIT_IMM: i32 = {
    assert!(abi::CODE_TABLE_LIMIT < 1 << 31);
    abi::CODE_TABLE_LIMIT as i32
};

/// Labels of the failure stubs: IPs no original instruction or constant can
/// have (the block encoder uses IPs as branch labels).
const STUB_LABEL_BASE: u64 = 1 << 48;

/// The memory operand of `instr` as a [`MemoryOperand`], its displacement
/// moved by `extra` bytes when its base is the stack pointer.
fn memory_operand(instr: &Instruction, extra: i64) -> MemoryOperand {
    let base = instr.memory_base();
    // iced returns the displacement sign-extended to 64 bits as a `u64`;
    // as an `i64` it is the signed displacement itself.
    let mut displ = instr.memory_displacement64().cast_signed();
    let mut displ_size = instr.memory_displ_size();
    if matches!(base, Register::RSP | Register::ESP) && extra != 0 {
        displ += extra;
        displ_size = displ_size.max(1);
    }
    MemoryOperand::new(
        base,
        instr.memory_index(),
        instr.memory_index_scale(),
        displ,
        displ_size,
        false,
        instr.segment_prefix(),
    )
}

/// Rewrites a RIP- or EIP-relative memory operand of `instr` into the
/// absolute `[disp32]` of the same address; `false` if it has none.
///
/// Errors: [`TranslateError::Unsupported`] when the address is not below
/// 2^31 (no contract memory is: natively such an access always faults).
fn make_absolute(instr: &mut Instruction) -> Result<bool, TranslateError> {
    if !instr.is_ip_rel_memory_operand() {
        return Ok(false);
    }
    let target = instr.ip_rel_memory_address();
    if target >= 1 << 31 {
        return Err(unsupported(
            instr,
            "RIP-relative operand addresses memory above 2 GiB, where no contract memory is",
        ));
    }
    instr.set_memory_base(Register::None);
    instr.set_memory_index(Register::None);
    instr.set_memory_displacement64(target);
    instr.set_memory_displ_size(4);
    Ok(true)
}

/// `test src, src` (or `test mem, all-ones`): ZF = (the source of a
/// `bsf`/`bsr` is zero).
fn test_source(instr: &Instruction) -> Result<Instruction, TranslateError> {
    let e = encode_err;
    if instr.op1_kind() == OpKind::Register {
        let r = instr.op1_register();
        let code = match r.size() {
            8 => Code::Test_rm64_r64,
            4 => Code::Test_rm32_r32,
            _ => Code::Test_rm16_r16,
        };
        return Instruction::with2(code, r, r).map_err(e);
    }
    let mem = memory_operand(instr, 0);
    match instr.memory_size().size() {
        8 => Instruction::with2(Code::Test_rm64_imm32, mem, -1i32).map_err(e),
        4 => Instruction::with2(Code::Test_rm32_imm32, mem, u32::MAX).map_err(e),
        _ => Instruction::with2(Code::Test_rm16_imm16, mem, 0xffffu32).map_err(e),
    }
}

/// Emits code into the instruction list, keeping the bookkeeping of labels,
/// return sites and check sites.
struct Emitter {
    out: Vec<Instruction>,
    /// Original IP still to give to the next emitted instruction.
    ip: Option<u64>,
    /// Indexes in `out` of return sites (the instruction after a call).
    return_sites: Vec<usize>,
    /// `(label, original address, kind)` of each check's failure stub.
    checks: Vec<(u64, u32, CheckKind)>,
}

impl Emitter {
    /// Appends `instr`: the first one emitted for an original instruction
    /// gets its IP (so branches to it land there), the rest IP 0.
    fn push(&mut self, mut instr: Instruction) {
        instr.set_ip(self.ip.take().unwrap_or(0));
        self.out.push(instr);
    }

    fn push_all(&mut self, instrs: Vec<Instruction>) {
        for instr in instrs {
            self.push(instr);
        }
    }

    /// `jae <a new failure stub>` for the check of `original`.
    fn jae_stub(&mut self, original: u64, kind: CheckKind) -> Result<(), TranslateError> {
        let label = STUB_LABEL_BASE + self.checks.len() as u64;
        self.checks.push((label, original as u32, kind));
        self.push(Instruction::with_branch(Code::Jae_rel32_64, label).map_err(encode_err)?);
        Ok(())
    }

    /// A checked return: `[rsp]` below the limit, then replaced by its slot.
    fn checked_return(&mut self, instr: Instruction) -> Result<(), TranslateError> {
        use Register::*;
        let e = encode_err;
        self.push(Instruction::with2(Code::Cmp_rm64_imm32, stack_slot(0), LIMIT_IMM).map_err(e)?);
        self.jae_stub(instr.ip(), CheckKind::Return)?;
        self.push_all(vec![
            Instruction::with2(Code::Mov_rm64_r64, stack_slot(-8), RAX).map_err(e)?,
            Instruction::with2(Code::Mov_r64_rm64, RAX, stack_slot(0)).map_err(e)?,
            Instruction::with2(Code::Mov_r64_rm64, RAX, table_slot(RAX)).map_err(e)?,
            // An invalid slot (not a start or return site) fails here,
            // where the trap can name the return.
            Instruction::with2(Code::Cmp_rm64_imm32, RAX, LIMIT_IMM).map_err(e)?,
        ]);
        self.jae_stub(instr.ip(), CheckKind::Return)?;
        self.push_all(vec![
            Instruction::with2(Code::Mov_rm64_r64, stack_slot(0), RAX).map_err(e)?,
            Instruction::with2(Code::Mov_r64_rm64, RAX, stack_slot(-8)).map_err(e)?,
            clobber_flags()?,
        ]);
        self.push(instr);
        Ok(())
    }

    /// A checked indirect jump or call.
    fn checked_indirect(&mut self, instr: Instruction) -> Result<(), TranslateError> {
        use Register::*;
        let e = encode_err;
        let call = instr.flow_control() == FlowControl::IndirectCall;
        let code = if call {
            Code::Call_rm64
        } else {
            Code::Jmp_rm64
        };
        match instr.op0_kind() {
            OpKind::Register => {
                let reg = instr.op0_register();
                if reg.size() != 8 || reg == RSP {
                    return Err(unsupported(
                        &instr,
                        "indirect branch through this register is not supported",
                    ));
                }
                self.push(Instruction::with2(Code::Cmp_rm64_imm32, reg, LIMIT_IMM).map_err(e)?);
                let register = reg.number() as u8;
                self.jae_stub(instr.ip(), CheckKind::IndirectRegister { register })?;
                self.push(clobber_flags()?);
                self.push(Instruction::with1(code, table_slot(reg)).map_err(e)?);
            }
            OpKind::Memory if instr.memory_size().size() == 8 => {
                let mut target = instr;
                make_absolute(&mut target)?;
                // The push moves rsp down by 8: an rsp-based operand
                // moves its displacement up by as much.
                let mem = memory_operand(&target, 8);
                self.push(Instruction::with1(Code::Push_r64, RAX).map_err(e)?);
                self.push(Instruction::with2(Code::Mov_r64_rm64, RAX, mem).map_err(e)?);
                self.push(Instruction::with2(Code::Cmp_rm64_imm32, RAX, LIMIT_IMM).map_err(e)?);
                self.jae_stub(instr.ip(), CheckKind::IndirectMemory)?;
                self.push(Instruction::with2(Code::Mov_r64_rm64, RAX, table_slot(RAX)).map_err(e)?);
                self.push(Instruction::with2(Code::Cmp_rm64_imm32, RAX, LIMIT_IMM).map_err(e)?);
                self.jae_stub(instr.ip(), CheckKind::IndirectMemory)?;
                self.push_all(vec![
                    Instruction::with2(Code::Mov_rm64_r64, stack_slot(-8), RAX).map_err(e)?,
                    Instruction::with1(Code::Pop_r64, RAX).map_err(e)?,
                    clobber_flags()?,
                    Instruction::with1(code, stack_slot(-16)).map_err(e)?,
                ]);
            }
            _ => {
                return Err(unsupported(
                    &instr,
                    "only 64-bit register or memory indirect branches are supported",
                ))
            }
        }
        if call {
            self.return_sites.push(self.out.len());
        }
        Ok(())
    }
}

fn is_direct_branch(instr: &Instruction) -> bool {
    matches!(
        instr.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

/// The decoded code: instructions in address order, with whether each
/// starts a section and ends one.
struct Decoded {
    instrs: Vec<Instruction>,
    leader: Vec<bool>,
    region_last: Vec<bool>,
}

fn decode(regions: &[CodeRegion<'_>]) -> Result<Decoded, TranslateError> {
    let code_bytes: usize = regions.iter().map(|r| r.bytes.len()).sum();
    let mut d = Decoded {
        instrs: Vec::with_capacity(code_bytes / 3 + 1),
        leader: Vec::with_capacity(code_bytes / 3 + 1),
        region_last: Vec::with_capacity(code_bytes / 3 + 1),
    };
    for region in regions {
        let mut decoder = Decoder::with_ip(64, region.bytes, region.addr, DecoderOptions::NONE);
        let mut first = true;
        while decoder.can_decode() {
            let instr = decoder.decode();
            if instr.is_invalid() {
                return Err(unsupported(
                    &instr,
                    "does not decode (the contract must pass verification first)",
                ));
            }
            d.instrs.push(instr);
            d.leader.push(first);
            d.region_last.push(false);
            first = false;
        }
        if let Some(last) = d.region_last.last_mut() {
            *last = true;
        }
    }
    Ok(d)
}

/// Marks block leaders and returns, for each instruction, the cost of the
/// rest of its block from it.
fn blocks(d: &mut Decoded, functions: &[FunctionSymbol]) -> Vec<u64> {
    let n = d.instrs.len();
    let instrs = &d.instrs;
    let index_of = |addr: u64| instrs.binary_search_by_key(&addr, |i| i.ip()).ok();
    for (i, instr) in instrs.iter().enumerate() {
        if instr.flow_control() != FlowControl::Next && i + 1 < n {
            d.leader[i + 1] = true;
        }
        if is_direct_branch(instr) {
            if let Some(t) = index_of(instr.near_branch_target()) {
                d.leader[t] = true;
            }
        }
    }
    for f in functions {
        if let Some(t) = index_of(f.addr) {
            d.leader[t] = true;
        }
    }
    let mut rest = vec![0u64; n];
    for i in (0..n).rev() {
        let tail = if i + 1 < n && !d.leader[i + 1] {
            rest[i + 1]
        } else {
            0
        };
        rest[i] = instruction_cost(&instrs[i]).saturating_add(tail);
    }
    rest
}

/// Translates the code `regions` of a contract that passed verification
/// (`nativm_verifier::verify` with no violation), with `functions` its
/// function symbols (methods among them). Regions must be sorted, as
/// `nativm_verifier::elf::check` returns them.
///
/// Errors: [`TranslateError::Unsupported`] for an instruction the scheme
/// cannot express (an indirect branch through `rsp`, a RIP-relative operand
/// above 2 GiB, a `jrcxz`/`loop` the encoder had to rewrite at an address
/// that must stay addressable), [`TranslateError::TooLarge`] when the
/// prepared code exceeds its region, [`TranslateError::Encoder`] if iced-x86
/// refuses to encode.
pub fn translate(
    regions: &[CodeRegion<'_>],
    functions: &[FunctionSymbol],
) -> Result<Translation, TranslateError> {
    let code_bytes: u64 = regions.iter().map(|r| r.bytes.len() as u64).sum();
    let mut d = decode(regions)?;
    let rest = blocks(&mut d, functions);
    let n = d.instrs.len();
    let mut costs = rest.clone();
    costs.sort_unstable();
    costs.dedup();
    let pool = Pool {
        costs,
        costs_base: abi::PREPARED_CODE_BASE + 16,
    };
    let pool_bytes = 16 + 8 * pool.costs.len() as u64;
    let code_start = abi::PREPARED_CODE_BASE + pool_bytes.div_ceil(64) * 64;

    let mut stats = TranslationStats {
        code_bytes,
        instructions: n as u64,
        ..Default::default()
    };
    let mut em = Emitter {
        out: Vec::with_capacity(n * 2),
        ip: None,
        return_sites: Vec::new(),
        checks: Vec::new(),
    };
    let mut landing = vec![u32::MAX; n];
    for (i, &cost) in rest.iter().enumerate() {
        emit_instruction(&mut em, &d, i, &pool, cost, &mut stats, &mut landing)?;
    }
    // Landing stubs for instruction starts inside blocks.
    let mut stub = vec![u32::MAX; n];
    for i in 0..n {
        if d.leader[i] {
            continue;
        }
        stats.stubs += 1;
        stub[i] = em.out.len() as u32;
        em.out.push(charge(&pool, rest[i], Register::MM0)?);
        let mut jmp =
            Instruction::with_branch(Code::Jmp_rel32_64, d.instrs[i].ip()).map_err(encode_err)?;
        jmp.set_ip(0);
        em.out.push(jmp);
    }
    // The failure stubs of the checks.
    let first_check = em.out.len();
    for &(label, _, _) in &em.checks {
        let mut ud2 = Instruction::with(Code::Ud2);
        ud2.set_ip(label);
        em.out.push(ud2);
    }

    let encoded = BlockEncoder::encode(
        64,
        InstructionBlock::new(&em.out, code_start),
        BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )
    .map_err(encode_err)?;
    let offsets = &encoded.new_instruction_offsets;
    let total = code_start - abi::PREPARED_CODE_BASE + encoded.code_buffer.len() as u64;
    let limit = abi::PREPARED_CODE_END - abi::PREPARED_CODE_BASE;
    if total > limit {
        return Err(TranslateError::TooLarge {
            bytes: total,
            limit,
        });
    }
    let at = |k: usize, instr: &Instruction| -> Result<u32, TranslateError> {
        match offsets.get(k) {
            Some(&off) if off != u32::MAX => Ok((code_start + u64::from(off)) as u32),
            _ => Err(unsupported(
                instr,
                "the block encoder rewrote an instruction that must stay addressable",
            )),
        }
    };
    let mut branch_targets = Vec::with_capacity(n);
    let mut address_map = Vec::with_capacity(n);
    for i in 0..n {
        let k = if d.leader[i] { landing[i] } else { stub[i] };
        let target = at(k as usize, &d.instrs[i])?;
        branch_targets.push((d.instrs[i].ip() as u32, target));
        if let Some(&off) = offsets.get(landing[i] as usize).filter(|&&o| o != u32::MAX) {
            address_map.push((
                (code_start + u64::from(off)) as u32,
                d.instrs[i].ip() as u32,
            ));
        }
    }
    let mut check_sites = Vec::with_capacity(em.checks.len());
    for (k, &(_, original, kind)) in em.checks.iter().enumerate() {
        let stub = at(first_check + k, &em.out[first_check + k])?;
        check_sites.push(CheckSite {
            stub,
            original,
            kind,
        });
        address_map.push((stub, original));
    }
    let mut return_sites = Vec::with_capacity(em.return_sites.len());
    for &k in &em.return_sites {
        let after = em.out.get(k).copied().unwrap_or_default();
        return_sites.push(at(k, &after)?);
    }
    return_sites.sort_unstable();
    address_map.sort_unstable();
    check_sites.sort_unstable_by_key(|c| c.stub);

    let mut code = vec![0u8; (code_start - abi::PREPARED_CODE_BASE) as usize];
    code[8..16].copy_from_slice(&REP_HUGE_COUNT_CHARGE.to_le_bytes());
    for (k, c) in pool.costs.iter().enumerate() {
        let at = 16 + 8 * k;
        code[at..at + 8].copy_from_slice(&c.to_le_bytes());
    }
    code.extend_from_slice(&encoded.code_buffer);
    stats.prepared_bytes = code.len() as u64;

    let index_of = |addr: u64| d.instrs.binary_search_by_key(&addr, |i| i.ip()).ok();
    let mut methods = Vec::new();
    for f in functions.iter().filter(|f| f.method) {
        if let Some(t) = index_of(f.addr) {
            methods.push(PreparedMethod {
                name: f.name.clone(),
                original: f.addr,
                entry: u64::from(branch_targets[t].1),
            });
        }
    }
    Ok(Translation {
        base: abi::PREPARED_CODE_BASE,
        code,
        branch_targets,
        return_sites,
        check_sites,
        address_map,
        methods,
        stats,
    })
}

/// Emits the prepared code of original instruction `i`.
fn emit_instruction(
    em: &mut Emitter,
    d: &Decoded,
    i: usize,
    pool: &Pool,
    rest: u64,
    stats: &mut TranslationStats,
    landing: &mut [u32],
) -> Result<(), TranslateError> {
    let mut instr = d.instrs[i];
    em.ip = Some(instr.ip());
    landing[i] = em.out.len() as u32;
    if d.leader[i] {
        let counter = COUNTERS[(stats.blocks % 4) as usize];
        stats.blocks += 1;
        em.push(charge(pool, rest, counter)?);
    }
    match instr.flow_control() {
        FlowControl::Return => {
            stats.returns += 1;
            em.checked_return(instr)?;
        }
        FlowControl::IndirectBranch | FlowControl::IndirectCall => {
            stats.indirect_branches += 1;
            em.checked_indirect(instr)?;
        }
        _ => {
            if make_absolute(&mut instr)? {
                stats.absolute_operands += 1;
            }
            // A one-vCPU guest with no devices needs no bus lock, and a
            // locked access that splits a cache line costs microseconds
            // (`crate::cost`, cost table version 2): the prefix goes.
            instr.set_has_lock_prefix(false);
            if is_rep_string(&instr) {
                stats.rep_strings += 1;
                let size = string_operand(&instr).unwrap_or(8);
                em.push_all(rep_charge(size)?);
            }
            if matches!(instr.mnemonic(), Mnemonic::Bsf | Mnemonic::Bsr) {
                stats.bit_scans += 1;
                em.push(test_source(&instr)?);
                let skip = Instruction::with_branch(Code::Je_rel32_64, instr.next_ip())
                    .map_err(encode_err)?;
                em.push(skip);
            }
            em.push(instr);
            if instr.flow_control() == FlowControl::Call {
                em.return_sites.push(em.out.len());
            }
        }
    }
    // A call that ends its section returns to a trap, as the original
    // would have returned outside code.
    if d.region_last[i] && em.return_sites.last() == Some(&em.out.len()) {
        em.out.push(Instruction::with(Code::Ud2));
    }
    Ok(())
}
