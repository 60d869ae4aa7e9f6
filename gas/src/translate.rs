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
//! * **Indirect jumps and calls** through a register `r` become
//!   `jmp/call qword gs:[r32*8]`: the GS base is the branch table
//!   ([`abi::BRANCH_TABLE_BASE`]) whose slot for every verified instruction
//!   start holds where that instruction runs in the prepared code, and for
//!   anything else an address that faults. Through memory, the target is
//!   first loaded with `rax` spilled below `rsp` (the 16 bytes below `rsp`
//!   are scratch, as in any no-red-zone code) and the checked target jumped
//!   to through that scratch slot.
//! * **Returns** check their return address against the return table (the FS
//!   base, [`abi::RETURN_TABLE_BASE`]): the slot of a return site (the
//!   instruction after a prepared call) holds that same address, any other
//!   slot a faulting one, and the slot's value replaces the return address
//!   before `ret`. Calls stay real `call`s (pushing prepared return
//!   addresses), so the CPU's return-stack predictor keeps working.
//! * **Flags at indirect transfers.** Before every return and indirect jump
//!   or call, `cmp rsp, rsp` sets the six arithmetic flags to a fixed value
//!   (ZF = PF = 1, the others 0): the flag model the verifier's rule 4
//!   assumes at return sites and indirect targets. This is the one
//!   documented difference from the original program.
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
    Instruction, InstructionBlock, IntelFormatter, MemoryOperand, OpKind, Register,
};
use nativm_abi as abi;
use nativm_verifier::elf::{CodeRegion, FunctionSymbol};
use serde::{Deserialize, Serialize};

use crate::cost::{instruction_cost, is_rep_string, string_operand, REP_HUGE_COUNT_CHARGE};

/// Version of the translation scheme (what [`Translation`] holds and how
/// the prepared code checks branches). Part of the prepared-image cache key.
pub const TRANSLATION_VERSION: u32 = 1;

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
    /// Indirect jumps and calls rewritten to go through the branch table.
    pub indirect_branches: u64,
    /// Returns rewritten to check the return table.
    pub returns: u64,
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
    /// Branch-table contents: `(original instruction start, prepared
    /// address to run it from)` for every verified instruction start, sorted
    /// by original address.
    pub branch_targets: Vec<(u32, u32)>,
    /// Return-table contents: every prepared return site (the address after
    /// a prepared call), sorted.
    pub return_sites: Vec<u32>,
    /// `(prepared address, original address)` of every translated original
    /// instruction, sorted by prepared address, for naming trap locations.
    pub address_map: Vec<(u32, u32)>,
    /// Exported methods, by name.
    pub methods: Vec<PreparedMethod>,
    /// Counts.
    pub stats: TranslationStats,
}

impl Translation {
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
    Instruction::with2(
        Code::Psubq_mm_mmm64,
        counter,
        MemoryOperand::with_base_displ(Register::RIP, pool.address(cost) as i64),
    )
    .map_err(encode_err)
}

/// `mm0 -= clamped count` for a `rep` string instruction (see
/// [`crate::cost`]): flag-free, uses `mm4`/`mm5` as scratch.
fn rep_charge(address_size: u32) -> Result<Vec<Instruction>, TranslateError> {
    use Register::*;
    let rip = |addr: u64| MemoryOperand::with_base_displ(RIP, addr as i64);
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

/// `qword seg:[index32*8]` for a table lookup.
fn table_slot(index: Register, segment: Register) -> MemoryOperand {
    MemoryOperand::new(Register::None, index, 8, 0, 4, false, segment)
}

/// Loads the checked prepared target of an indirect transfer whose original
/// target is in memory `[mem]` into the scratch slot `[rsp-16]`, preserving
/// every register and flag.
fn load_checked_target(instr: &Instruction) -> Result<Vec<Instruction>, TranslateError> {
    use Register::*;
    let e = encode_err;
    let base = instr.memory_base();
    if base == EIP || instr.memory_index() == EIP {
        return Err(unsupported(instr, "EIP-relative addressing"));
    }
    let mem = MemoryOperand::new(
        base,
        instr.memory_index(),
        instr.memory_index_scale(),
        instr.memory_displacement64() as i64,
        instr.memory_displ_size(),
        false,
        instr.segment_prefix(),
    );
    Ok(vec![
        Instruction::with2(Code::Mov_rm64_r64, stack_slot(-8), RAX).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, mem).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, table_slot(EAX, GS)).map_err(e)?,
        Instruction::with2(Code::Mov_rm64_r64, stack_slot(-16), RAX).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, stack_slot(-8)).map_err(e)?,
    ])
}

/// Replaces the return address at `[rsp]` by its return-table slot.
fn check_return() -> Result<Vec<Instruction>, TranslateError> {
    use Register::*;
    let e = encode_err;
    Ok(vec![
        Instruction::with2(Code::Mov_rm64_r64, stack_slot(-8), RAX).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, stack_slot(0)).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, table_slot(EAX, FS)).map_err(e)?,
        Instruction::with2(Code::Mov_rm64_r64, stack_slot(0), RAX).map_err(e)?,
        Instruction::with2(Code::Mov_r64_rm64, RAX, stack_slot(-8)).map_err(e)?,
    ])
}

/// Appends `instrs` for original instruction at `ip`: the first gets the
/// original IP (so branches to `ip` land on it), the rest IP 0 (which the
/// block encoder never treats as a branch target).
fn emit(out: &mut Vec<Instruction>, first_ip: &mut Option<u64>, mut instr: Instruction) {
    instr.set_ip(first_ip.take().unwrap_or(0));
    out.push(instr);
}

fn is_direct_branch(instr: &Instruction) -> bool {
    matches!(
        instr.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    )
}

/// Translates the code `regions` of a contract that passed verification
/// (`nativm_verifier::verify` with no violation), with `functions` its
/// function symbols (methods among them). Regions must be sorted, as
/// `nativm_verifier::elf::check` returns them.
///
/// Errors: [`TranslateError::Unsupported`] for an instruction the scheme
/// cannot express (an indirect branch through `rsp`, EIP-relative
/// addressing, a `jrcxz`/`loop` the encoder had to rewrite at an address
/// that must stay addressable), [`TranslateError::TooLarge`] when the
/// prepared code exceeds its region, [`TranslateError::Encoder`] if iced-x86
/// refuses to encode.
pub fn translate(
    regions: &[CodeRegion<'_>],
    functions: &[FunctionSymbol],
) -> Result<Translation, TranslateError> {
    let code_bytes: u64 = regions.iter().map(|r| r.bytes.len() as u64).sum();
    let mut instrs: Vec<Instruction> = Vec::with_capacity((code_bytes / 3) as usize + 1);
    let mut leader = Vec::with_capacity(instrs.capacity());
    let mut region_last = Vec::with_capacity(instrs.capacity());
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
            instrs.push(instr);
            leader.push(first);
            region_last.push(false);
            first = false;
        }
        if let Some(last) = region_last.last_mut() {
            *last = true;
        }
    }
    let n = instrs.len();
    let index_of =
        |addr: u64| -> Option<usize> { instrs.binary_search_by_key(&addr, |i| i.ip()).ok() };
    // Block leaders.
    for i in 0..n {
        let instr = &instrs[i];
        if instr.flow_control() != FlowControl::Next && i + 1 < n {
            leader[i + 1] = true;
        }
        if is_direct_branch(instr) {
            if let Some(t) = index_of(instr.near_branch_target()) {
                leader[t] = true;
            }
        }
    }
    for f in functions {
        if let Some(t) = index_of(f.addr) {
            leader[t] = true;
        }
    }
    // Cost of the rest of the block from each instruction.
    let mut rest = vec![0u64; n];
    for i in (0..n).rev() {
        let tail = if i + 1 < n && !leader[i + 1] {
            rest[i + 1]
        } else {
            0
        };
        rest[i] = instruction_cost(&instrs[i]).saturating_add(tail);
    }
    let mut costs = rest.clone();
    costs.sort_unstable();
    costs.dedup();
    let pool = Pool {
        costs,
        costs_base: abi::PREPARED_CODE_BASE + 16,
    };
    let pool_bytes = 16 + 8 * pool.costs.len() as u64;
    let code_start = abi::PREPARED_CODE_BASE + pool_bytes.div_ceil(64) * 64;

    // Emit.
    let mut stats = TranslationStats {
        code_bytes,
        instructions: n as u64,
        ..Default::default()
    };
    let mut out: Vec<Instruction> = Vec::with_capacity(n * 2);
    let mut landing = vec![u32::MAX; n];
    let mut return_site_indexes = Vec::new();
    for i in 0..n {
        let instr = instrs[i];
        let mut ip = Some(instr.ip());
        landing[i] = out.len() as u32;
        if leader[i] {
            let counter = COUNTERS[(stats.blocks % 4) as usize];
            stats.blocks += 1;
            emit(&mut out, &mut ip, charge(&pool, rest[i], counter)?);
        }
        match instr.flow_control() {
            FlowControl::Return => {
                stats.returns += 1;
                for x in check_return()? {
                    emit(&mut out, &mut ip, x);
                }
                emit(&mut out, &mut ip, clobber_flags()?);
                emit(&mut out, &mut ip, instr);
            }
            FlowControl::IndirectBranch | FlowControl::IndirectCall => {
                stats.indirect_branches += 1;
                let call = instr.flow_control() == FlowControl::IndirectCall;
                let code = if call {
                    Code::Call_rm64
                } else {
                    Code::Jmp_rm64
                };
                match instr.op0_kind() {
                    OpKind::Register => {
                        let reg = instr.op0_register();
                        if reg.size() != 8 || reg == Register::RSP {
                            return Err(unsupported(
                                &instr,
                                "indirect branch through this register is not supported",
                            ));
                        }
                        emit(&mut out, &mut ip, clobber_flags()?);
                        let via = table_slot(reg.full_register32(), Register::GS);
                        emit(
                            &mut out,
                            &mut ip,
                            Instruction::with1(code, via).map_err(encode_err)?,
                        );
                    }
                    OpKind::Memory if instr.memory_size().size() == 8 => {
                        for x in load_checked_target(&instr)? {
                            emit(&mut out, &mut ip, x);
                        }
                        emit(&mut out, &mut ip, clobber_flags()?);
                        emit(
                            &mut out,
                            &mut ip,
                            Instruction::with1(code, stack_slot(-16)).map_err(encode_err)?,
                        );
                    }
                    _ => {
                        return Err(unsupported(
                            &instr,
                            "only 64-bit register or memory indirect branches are supported",
                        ))
                    }
                }
                if call {
                    return_site_indexes.push(out.len());
                }
            }
            _ => {
                if is_rep_string(&instr) {
                    stats.rep_strings += 1;
                    let size = string_operand(&instr).unwrap_or(8);
                    for x in rep_charge(size)? {
                        emit(&mut out, &mut ip, x);
                    }
                }
                emit(&mut out, &mut ip, instr);
                if instr.flow_control() == FlowControl::Call {
                    return_site_indexes.push(out.len());
                }
            }
        }
        // A call that ends its section returns to a trap, as the original
        // would have returned outside code.
        if region_last[i] && return_site_indexes.last() == Some(&out.len()) {
            out.push(Instruction::with(Code::Ud2));
        }
    }
    // Landing stubs for instruction starts inside blocks.
    let mut stub = vec![u32::MAX; n];
    for i in 0..n {
        if leader[i] {
            continue;
        }
        stats.stubs += 1;
        stub[i] = out.len() as u32;
        out.push(charge(&pool, rest[i], Register::MM0)?);
        let mut jmp =
            Instruction::with_branch(Code::Jmp_rel32_64, instrs[i].ip()).map_err(encode_err)?;
        jmp.set_ip(0);
        out.push(jmp);
    }

    let encoded = BlockEncoder::encode(
        64,
        InstructionBlock::new(&out, code_start),
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
        let target = if leader[i] {
            at(landing[i] as usize, &instrs[i])?
        } else {
            at(stub[i] as usize, &instrs[i])?
        };
        branch_targets.push((instrs[i].ip() as u32, target));
        if let Some(&off) = offsets.get(landing[i] as usize).filter(|&&o| o != u32::MAX) {
            address_map.push(((code_start + u64::from(off)) as u32, instrs[i].ip() as u32));
        }
    }
    let mut return_sites = Vec::with_capacity(return_site_indexes.len());
    for k in return_site_indexes {
        let after = out.get(k).copied().unwrap_or_default();
        return_sites.push(at(k, &after)?);
    }
    return_sites.sort_unstable();
    address_map.sort_unstable();

    let mut code = vec![0u8; (code_start - abi::PREPARED_CODE_BASE) as usize];
    code[8..16].copy_from_slice(&REP_HUGE_COUNT_CHARGE.to_le_bytes());
    for (k, c) in pool.costs.iter().enumerate() {
        let at = 16 + 8 * k;
        code[at..at + 8].copy_from_slice(&c.to_le_bytes());
    }
    code.extend_from_slice(&encoded.code_buffer);
    stats.prepared_bytes = code.len() as u64;

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
        address_map,
        methods,
        stats,
    })
}
