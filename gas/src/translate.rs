//! Translation of verified contract code into prepared code.
//!
//! The contract's code is decoded (a linear sweep: the verifier has proven
//! every byte of every executable section decodes, rule 2), split into basic
//! blocks, and re-emitted at [`abi::PREPARED_CODE_BASE`]: most instructions
//! are copied byte for byte; direct branches become their `rel32` forms
//! (fixed sizes, so one emitting pass and a fix-up of each displacement at
//! the end), RIP-relative operands are patched to absolute ones, checked
//! returns come from a fixed template, and iced-x86's encoder is used only
//! for the rare rest (checked indirect branches, bit scans, `rep` strings,
//! RIP-relative operands that cannot be patched in place). Data stays at its
//! original addresses; the contract's own code pages stay mapped read-only,
//! not executable. The changes, and nothing else:
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
//! * **Loop heads keep their alignment.** The target of a backward direct
//!   branch whose original address is 16-byte aligned (the compiler aligned
//!   it) lands at a 16-byte aligned prepared address, padded with
//!   multi-byte NOPs that charge nothing.
//!
//! Translation is linear in the code size: one decoding pass (16 bytes per
//! instruction), one emitting pass, O(1) lookups of instruction starts (a
//! bitmap with ranks) and gas constants. Its prepared code is bounded
//! before anything is emitted ([`MAX_EXPANSION`], the region), and so is
//! what the guest must map for it ([`abi::PREPARED_PAGE_TABLES`]).

use iced_x86::{
    Code, Decoder, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter,
    MemoryOperand, Mnemonic, OpKind, Register,
};
use nativm_abi as abi;
use nativm_verifier::elf::{CodeRegion, FunctionSymbol};
use serde::{Deserialize, Serialize};

use crate::cost::{instruction_cost, is_rep_string, string_operand, REP_HUGE_COUNT_CHARGE};

/// Version of the translation scheme (what [`Translation`] holds and how
/// the prepared code checks branches). Part of the prepared-image cache key.
pub const TRANSLATION_VERSION: u32 = 4;

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
    /// The prepared code (or its bound, computed before emitting) would
    /// not fit its region
    /// ([`abi::PREPARED_CODE_BASE`]..[`abi::PREPARED_CODE_END`]).
    #[error("prepared code is (or could be) {bytes} bytes, more than the {limit} bytes of its region (nativm_abi::PREPARED_CODE_BASE..PREPARED_CODE_END)")]
    TooLarge {
        /// Size of the prepared code, in bytes.
        bytes: u64,
        /// Size of the region, in bytes.
        limit: u64,
    },
    /// The prepared code and its code table would need more page-table
    /// pages than the guest reserves for them
    /// ([`abi::PREPARED_PAGE_TABLES`]).
    #[error("the prepared code ({prepared_bytes} bytes) and its code table ({table_bytes} bytes) need {needed} page-table pages, more than the limit of {limit} (nativm_abi::PREPARED_PAGE_TABLES)")]
    PageTables {
        /// Bytes of prepared code.
        prepared_bytes: u64,
        /// Bytes of backed code-table pages.
        table_bytes: u64,
        /// Page-table pages needed.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The prepared code could exceed [`MAX_EXPANSION`] times the code
    /// (plus [`EXPANSION_SLACK`]): refused before it is emitted, so that
    /// translating takes memory proportional to the code.
    #[error("prepared code could reach {bound} bytes, more than the limit of {limit} bytes ({MAX_EXPANSION} times the {code_bytes} bytes of code, plus {EXPANSION_SLACK}); code this dense in returns or checked branches is not accepted")]
    Expansion {
        /// Upper bound of the prepared code, in bytes.
        bound: u64,
        /// Bytes of original code.
        code_bytes: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// iced-x86's encoder refused an instruction.
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

    /// Page-table pages (each mapping 2 MiB) the prepared code and the
    /// backed pages of its code table take in the guest, the page of the
    /// runtime's two entries included.
    pub fn page_tables(&self) -> u64 {
        let span = |page: u64| page / 512;
        let mut spans: Vec<u64> = self
            .table_pages()
            .into_iter()
            .map(span)
            .chain([span(abi::HOSTCALL_ENTRY * 8 / abi::PAGE_SIZE)])
            .collect();
        spans.dedup();
        spans.sort_unstable();
        spans.dedup();
        spans.len() as u64 + (self.code.len() as u64).div_ceil(2 << 20)
    }

    /// Indexes (in 4 KiB pages of the code table's window) of the backed
    /// table pages, sorted.
    fn table_pages(&self) -> Vec<u64> {
        let page = |index: u32| u64::from(index) * 8 / abi::PAGE_SIZE;
        let mut pages: Vec<u64> = self
            .branch_targets
            .iter()
            .map(|&(o, _)| page(o))
            .chain(self.return_sites.iter().map(|&p| page(p)))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }

    /// Bytes of the code table this translation needs (the VMM backs each
    /// 4 KiB page of 8-byte slots that holds a valid slot: every verified
    /// instruction start and every return site; `nativm_vmm::prepared::
    /// table_pages`), not counting the page of the runtime's two entries.
    pub fn table_bytes(&self) -> u64 {
        self.table_pages().len() as u64 * abi::PAGE_SIZE
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
    /// `dense[c]`: index in `costs` of cost `c` below [`DENSE_COSTS`].
    dense: Vec<u32>,
    costs_base: u64,
}

/// Costs below this are found in [`Pool::dense`] in O(1); larger ones by
/// binary search (blocks costing 4096 gas or more are rare).
const DENSE_COSTS: usize = 4096;

/// Constant 0 (for the rep rule's compare).
const POOL_ZERO: u64 = abi::PREPARED_CODE_BASE;
/// Constant [`REP_HUGE_COUNT_CHARGE`].
const POOL_HUGE: u64 = abi::PREPARED_CODE_BASE + 8;

impl Pool {
    /// The pool of the distinct values of `rests`, sorted, in O(n + large
    /// values log large values).
    fn new(rests: impl Iterator<Item = u64>) -> Pool {
        let mut seen = vec![false; DENSE_COSTS];
        let mut large = Vec::new();
        for r in rests {
            match usize::try_from(r) {
                Ok(small) if small < DENSE_COSTS => seen[small] = true,
                _ => large.push(r),
            }
        }
        large.sort_unstable();
        large.dedup();
        let mut costs = Vec::new();
        let mut dense = vec![u32::MAX; DENSE_COSTS];
        for (c, _) in seen.iter().enumerate().filter(|(_, s)| **s) {
            dense[c] = costs.len() as u32;
            costs.push(c as u64);
        }
        costs.extend(large);
        Pool {
            costs,
            dense,
            costs_base: abi::PREPARED_CODE_BASE + 16,
        }
    }

    fn address(&self, cost: u64) -> u64 {
        let k = match usize::try_from(cost) {
            Ok(c) if c < DENSE_COSTS => self.dense[c] as usize,
            _ => self
                .costs
                .binary_search(&cost)
                .expect("every block cost is in the pool"),
        };
        self.costs_base + 8 * k as u64
    }
}

/// Instruction starts as one bitmap over the code regions (a bit per code
/// byte, each region from a word boundary) with per-word rank counts: the
/// index of the instruction at an address in O(log regions), using 0.19
/// bytes per byte of code.
struct Starts {
    /// `(address, length, first word)` of each region, sorted.
    regions: Vec<(u64, u64, usize)>,
    bits: Vec<u64>,
    /// Starts before each word.
    rank: Vec<u32>,
}

impl Starts {
    fn new(regions: &[CodeRegion<'_>], ins: &[Ins]) -> Starts {
        let mut spans = Vec::with_capacity(regions.len());
        let mut words = 0usize;
        for r in regions {
            spans.push((r.addr, r.bytes.len() as u64, words));
            words += r.bytes.len().div_ceil(64);
        }
        let mut bits = vec![0u64; words];
        let mut r = 0;
        for x in ins {
            let ip = u64::from(x.ip);
            while ip >= spans[r].0 + spans[r].1 {
                r += 1;
            }
            let off = (ip - spans[r].0) as usize;
            bits[spans[r].2 + off / 64] |= 1 << (off % 64);
        }
        let mut rank = Vec::with_capacity(words);
        let mut count = 0u32;
        for w in &bits {
            rank.push(count);
            count += w.count_ones();
        }
        Starts {
            regions: spans,
            bits,
            rank,
        }
    }

    /// Index of the instruction starting at `addr`, if one does.
    fn index(&self, addr: u64) -> Option<usize> {
        let r = self
            .regions
            .partition_point(|s| s.0 <= addr)
            .checked_sub(1)?;
        let (start, len, first) = self.regions[r];
        let off = addr - start;
        if off >= len {
            return None;
        }
        let word = first + (off / 64) as usize;
        let bit = off % 64;
        let w = self.bits[word];
        if w >> bit & 1 == 0 {
            return None;
        }
        Some(self.rank[word] as usize + (w & ((1u64 << bit) - 1)).count_ones() as usize)
    }
}

/// The gas counters block charges rotate over: consecutive blocks subtract
/// from different registers, so that the charges of a loop of short blocks
/// do not form one dependency chain (one run each: the sieve's metering
/// overhead per round went from 9.0% to 6.8%). The gas left is their sum.
pub const COUNTERS: [Register; 4] = [Register::MM0, Register::MM1, Register::MM2, Register::MM3];

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

/// Largest prepared code the translation emits for a contract, as a
/// multiple of its code bytes (plus [`EXPANSION_SLACK`]): translating
/// keeps every original instruction and adds bounded code around it, so
/// its memory is proportional to the code; this bound caps the factor.
/// Ordinary compiler output prepares to 3-5x, methods of 3 bytes
/// (`xor eax, eax; ret`) to 25x; code made only of `ret`s (about 60x) is
/// refused before anything is emitted.
pub const MAX_EXPANSION: u64 = 32;
/// Fixed allowance on top of [`MAX_EXPANSION`] times the code, in bytes
/// (the constant pool and alignment of tiny contracts).
pub const EXPANSION_SLACK: u64 = 64 << 10;

/// Kinds of original instruction, by what the translation does with it.
mod kind {
    /// Copied byte for byte.
    pub const PLAIN: u8 = 0;
    /// Direct `jmp`: re-emitted as `jmp rel32` to the target's landing.
    pub const JMP: u8 = 1;
    /// Direct `jcc`: re-emitted as `jcc rel32`; `aux` is the condition.
    pub const JCC: u8 = 2;
    /// Direct `call`: re-emitted as `call rel32`.
    pub const CALL: u8 = 3;
    /// `loop`/`loope`/`loopne`/`jrcxz`/`jecxz` (rel8 only): the copy
    /// branches over a `jmp short` to a `jmp rel32` to the target.
    pub const LOOP: u8 = 4;
    /// RIP-relative memory operand, made absolute; `aux` is the offset of
    /// the displacement in the instruction (0: re-encoded by iced-x86).
    pub const RIPREL: u8 = 5;
    /// Return: checked against the code table.
    pub const RET: u8 = 6;
    /// Indirect jump or call: checked against the code table.
    pub const INDIRECT: u8 = 7;
    /// `bsf`/`bsr`: skipped for a zero source.
    pub const BITSCAN: u8 = 8;
    /// `rep` string instruction: charged by its count first.
    pub const REP: u8 = 9;
    /// `lock`-prefixed instruction: copied without its LOCK prefix bytes.
    pub const UNLOCKED: u8 = 10;
}

/// Flags of an [`Ins`].
const LEADER: u8 = 1;
/// Last instruction of its code region.
const REGION_LAST: u8 = 2;
/// Target of a backward direct branch at a 16-byte aligned original
/// address: its prepared landing is aligned to 16 as well.
const LOOP_HEAD: u8 = 4;
/// Not straight-line (branch, call, return, trap): the next instruction
/// starts a block.
const ENDS_BLOCK: u8 = 8;

/// One original instruction, compact (16 bytes): what the emitting pass
/// needs, so the code is decoded once.
#[derive(Clone, Copy)]
struct Ins {
    /// Cost of the rest of its block from it (gas).
    rest: u64,
    /// Original address.
    ip: u32,
    len: u8,
    kind: u8,
    aux: u8,
    flags: u8,
}

/// The checked return, `ret` excluded (Intel SDM Vol. 2 encodings):
/// `cmp qword [rsp], LIMIT; jae S; mov [rsp-8], rax; mov rax, [rsp];
/// mov rax, gs:[rax*8]; cmp rax, LIMIT; jae S; mov [rsp], rax;
/// mov rax, [rsp-8]; cmp rsp, rsp`, then the original `ret` and `S: ud2`.
const RET_CHECK: [u8; 48] = {
    let l = (abi::CODE_TABLE_LIMIT as u32).to_le_bytes();
    [
        0x48, 0x81, 0x3c, 0x24, l[0], l[1], l[2], l[3], // cmp qword [rsp], LIMIT
        0x73, 0x00, // jae S (patched)
        0x48, 0x89, 0x44, 0x24, 0xf8, // mov [rsp-8], rax
        0x48, 0x8b, 0x04, 0x24, // mov rax, [rsp]
        0x65, 0x48, 0x8b, 0x04, 0xc5, 0, 0, 0, 0, // mov rax, gs:[rax*8]
        0x48, 0x3d, l[0], l[1], l[2], l[3], // cmp rax, LIMIT
        0x73, 0x00, // jae S (patched)
        0x48, 0x89, 0x04, 0x24, // mov [rsp], rax
        0x48, 0x8b, 0x44, 0x24, 0xf8, // mov rax, [rsp-8]
        0x48, 0x39, 0xe4, // cmp rsp, rsp
    ]
};
/// Offsets of the two `jae` displacements in [`RET_CHECK`].
const RET_JAE: [usize; 2] = [9, 35];
/// `ud2`.
const UD2: [u8; 2] = [0x0f, 0x0b];
/// `cmp rsp, rsp`.
const CMP_RSP_RSP: [u8; 3] = [0x48, 0x39, 0xe4];

/// Recommended multi-byte NOPs, 1 to 9 bytes (Intel SDM Vol. 2B, NOP,
/// Table 4-12).
const NOPS: [&[u8]; 9] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0f, 0x1f, 0x00],
    &[0x0f, 0x1f, 0x40, 0x00],
    &[0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
    &[0x0f, 0x1f, 0x80, 0, 0, 0, 0],
    &[0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0],
    &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0, 0, 0, 0],
];

/// `aux` bit of a direct branch with a 32-bit displacement.
const WIDE_BRANCH: u8 = 0x80;

/// Upper bound of the prepared bytes of `ins`, its charge or landing stub
/// and alignment included.
fn size_bound(ins: &Ins) -> u64 {
    let len = u64::from(ins.len);
    let head = if ins.flags & LEADER != 0 { 7 } else { 12 };
    let align = if ins.flags & LOOP_HEAD != 0 { 15 } else { 0 };
    let body = match ins.kind {
        kind::JMP => 5,
        kind::JCC => 6,
        kind::CALL => 5,
        kind::LOOP => len + 7,
        kind::RIPREL => len + 2,
        kind::RET => RET_CHECK.len() as u64 + len + 2,
        kind::INDIRECT => 72 + len,
        kind::BITSCAN => 2 * len + 12,
        kind::REP => 80 + len,
        _ => len,
    };
    head + align + body + 2
}

/// Whether a byte is a legacy prefix (Intel SDM Vol. 2A, 2.1.1).
fn is_legacy_prefix(b: u8) -> bool {
    matches!(
        b,
        0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65
    )
}

/// Classifies a decoded instruction: `(kind, aux)`.
fn classify(
    decoder: &Decoder<'_>,
    instr: &Instruction,
    bytes: &[u8],
) -> Result<(u8, u8), TranslateError> {
    match instr.flow_control() {
        FlowControl::Return => return Ok((kind::RET, 0)),
        FlowControl::IndirectBranch | FlowControl::IndirectCall => return Ok((kind::INDIRECT, 0)),
        _ => {}
    }
    if is_direct_branch(instr) {
        // aux: the size of the displacement (1 or 4 bytes), and for a jcc
        // the condition in the low four bits (iced's ConditionCode is the
        // x86 condition plus one).
        let short = instr.is_jmp_short() || instr.is_jcc_short();
        let wide = if short { 0 } else { WIDE_BRANCH };
        let k = match instr.mnemonic() {
            Mnemonic::Jmp => (kind::JMP, wide),
            Mnemonic::Call => (kind::CALL, wide),
            Mnemonic::Loope | Mnemonic::Loopne => (kind::LOOP, 0),
            _ if instr.condition_code() != iced_x86::ConditionCode::None => {
                (kind::JCC, (instr.condition_code() as u8 - 1) | wide)
            }
            _ => (kind::LOOP, 0),
        };
        if instr.op0_kind() == OpKind::NearBranch16 {
            return Err(unsupported(
                instr,
                "a direct branch with a 16-bit displacement",
            ));
        }
        return Ok(k);
    }
    if matches!(instr.mnemonic(), Mnemonic::Bsf | Mnemonic::Bsr) {
        return Ok((kind::BITSCAN, 0));
    }
    if is_rep_string(instr) {
        return Ok((kind::REP, 0));
    }
    if instr.has_lock_prefix() && !instr.is_ip_rel_memory_operand() {
        return Ok((kind::UNLOCKED, 0));
    }
    if instr.is_ip_rel_memory_operand() {
        if instr.has_lock_prefix() {
            // Re-encoded by iced-x86, without the prefix.
            return Ok((kind::RIPREL, 0));
        }
        if instr.ip_rel_memory_address() >= 1 << 31 {
            return Err(unsupported(
                instr,
                "RIP-relative operand addresses memory above 2 GiB, where no contract memory is",
            ));
        }
        return Ok((kind::RIPREL, patchable_displacement(decoder, instr, bytes)));
    }
    Ok((kind::PLAIN, 0))
}

/// Offset of the RIP-relative displacement when the absolute form can be
/// made by patching bytes (a legacy encoding with ModRM right before the
/// displacement, no REX.X, at most 14 bytes), else 0.
fn patchable_displacement(decoder: &Decoder<'_>, instr: &Instruction, bytes: &[u8]) -> u8 {
    if instr.encoding() != iced_x86::EncodingKind::Legacy || bytes.len() >= 15 {
        return 0;
    }
    let offsets = decoder.get_constant_offsets(instr);
    let d = offsets.displacement_offset();
    if offsets.displacement_size() != 4 || d < 2 {
        return 0;
    }
    let prefixes = bytes.iter().take_while(|b| is_legacy_prefix(**b)).count();
    if let Some(&rex) = bytes.get(prefixes) {
        if (0x40..=0x4f).contains(&rex) && rex & 0x02 != 0 {
            return 0;
        }
    }
    // ModRM: mod = 00, rm = 101 (RIP-relative, Intel SDM Vol. 2A, 2.2.1.6).
    match bytes.get(d - 1) {
        Some(&modrm) if modrm & 0xc7 == 0x05 => d as u8,
        _ => 0,
    }
}

/// The decoded code: one [`Ins`] per instruction, in address order.
fn decode(
    regions: &[CodeRegion<'_>],
    functions: &[FunctionSymbol],
) -> Result<(Vec<Ins>, Starts), TranslateError> {
    let code_bytes: usize = regions.iter().map(|r| r.bytes.len()).sum();
    let mut ins: Vec<Ins> = Vec::with_capacity(code_bytes / 3 + 1);
    // Direct branch targets: (target, whether the branch is backward).
    let mut targets: Vec<(u32, bool)> = Vec::new();
    let mut instr = Instruction::default();
    for region in regions {
        let mut decoder = Decoder::with_ip(64, region.bytes, region.addr, DecoderOptions::NONE);
        let mut first = true;
        while decoder.can_decode() {
            let offset = decoder.position();
            decoder.decode_out(&mut instr);
            if instr.is_invalid() {
                return Err(unsupported(
                    &instr,
                    "does not decode (the contract must pass verification first)",
                ));
            }
            let bytes = &region.bytes[offset..offset + instr.len()];
            let (k, aux) = classify(&decoder, &instr, bytes)?;
            let mut flags = if first { LEADER } else { 0 };
            // After anything that is not straight-line (branch, call,
            // return, trap), a block starts.
            if ins.last().is_some_and(|p| p.flags & ENDS_BLOCK != 0) && !first {
                flags |= LEADER;
            }
            if instr.flow_control() != FlowControl::Next {
                flags |= ENDS_BLOCK;
            }
            if is_direct_branch(&instr) {
                let t = instr.near_branch_target();
                if let Ok(t) = u32::try_from(t) {
                    targets.push((t, t as u64 <= instr.ip()));
                }
            }
            ins.push(Ins {
                // The instruction's own cost until the backward pass below
                // turns it into the rest of its block.
                rest: instruction_cost(&instr),
                ip: instr.ip() as u32,
                len: instr.len() as u8,
                kind: k,
                aux,
                flags,
            });
            first = false;
        }
        if let Some(last) = ins.last_mut() {
            last.flags |= REGION_LAST;
        }
    }
    let starts = Starts::new(regions, &ins);
    for &(t, backward) in &targets {
        if let Some(i) = starts.index(u64::from(t)) {
            ins[i].flags |= LEADER;
            if backward && t % 16 == 0 {
                ins[i].flags |= LOOP_HEAD;
            }
        }
    }
    for f in functions {
        if let Some(i) = starts.index(f.addr) {
            ins[i].flags |= LEADER;
        }
    }
    let mut tail = 0u64;
    for i in (0..ins.len()).rev() {
        let next_leads = ins.get(i + 1).is_none_or(|n| n.flags & LEADER != 0);
        if next_leads {
            tail = 0;
        }
        tail = ins[i].rest.saturating_add(tail);
        ins[i].rest = tail;
    }
    Ok((ins, starts))
}

/// The prepared code as it is emitted, with its bookkeeping.
struct Out {
    code: Vec<u8>,
    /// Guest address of `code[0]`.
    base: u64,
    encoder: iced_x86::Encoder,
    /// `(offset of a rel32, original target)` to resolve at the end.
    fixups: Vec<(u32, u32)>,
    /// `(offset of a jae rel32, original, kind)` of checks whose `ud2`
    /// goes at the end (those of calls: the return site follows the call).
    deferred: Vec<(u32, u32, CheckKind)>,
    check_sites: Vec<CheckSite>,
    return_sites: Vec<u32>,
    address_map: Vec<(u32, u32)>,
}

impl Out {
    fn here(&self) -> u32 {
        (self.base + self.code.len() as u64) as u32
    }

    /// Encodes `instr` at the current address (iced-x86 computes any
    /// RIP-relative displacement for it).
    fn encode(&mut self, instr: &Instruction) -> Result<(), TranslateError> {
        let ip = self.base + self.code.len() as u64;
        self.encoder.encode(instr, ip).map_err(encode_err)?;
        self.code.extend_from_slice(&self.encoder.take_buffer());
        Ok(())
    }

    /// `psubq counter, [rip + constant of cost]`: `0f fb /r`, ModRM mod =
    /// 00, rm = 101 (RIP-relative).
    fn charge(&mut self, pool: &Pool, cost: u64, counter: u8) {
        let next = self.base + self.code.len() as u64 + 7;
        // The pool is within 2 GiB: the low 32 bits of the difference are
        // the signed displacement.
        let rel = pool.address(cost).wrapping_sub(next) as u32;
        self.code
            .extend_from_slice(&[0x0f, 0xfb, (counter << 3) | 0x05]);
        self.code.extend_from_slice(&rel.to_le_bytes());
    }

    /// A rel32 to the landing of original address `target`, resolved later.
    fn rel32_to(&mut self, target: u32) {
        self.fixups.push((self.code.len() as u32, target));
        self.code.extend_from_slice(&[0; 4]);
    }

    /// `jae` to a failure stub at the end (`0f 83 rel32`).
    fn jae_deferred(&mut self, original: u32, kind: CheckKind) {
        self.code.extend_from_slice(&[0x0f, 0x83]);
        self.deferred.push((self.code.len() as u32, original, kind));
        self.code.extend_from_slice(&[0; 4]);
    }

    /// `jae` short to a `ud2` emitted later by [`Out::inline_stub`].
    fn jae_short(&mut self, pending: &mut Vec<usize>) {
        self.code.extend_from_slice(&[0x73, 0]);
        pending.push(self.code.len() - 1);
    }

    /// `ud2` here for the pending short `jae`s, as the check site of
    /// `original`.
    fn inline_stub(
        &mut self,
        pending: &[usize],
        original: u32,
        kind: CheckKind,
    ) -> Result<(), TranslateError> {
        let stub_at = self.code.len();
        for &p in pending {
            let rel = stub_at - (p + 1);
            self.code[p] = u8::try_from(rel)
                .ok()
                .filter(|r| *r < 0x80)
                .ok_or_else(|| TranslateError::Encoder("check stub out of short range".into()))?;
        }
        let stub = self.here();
        self.code.extend_from_slice(&UD2);
        self.check_sites.push(CheckSite {
            stub,
            original,
            kind,
        });
        self.address_map.push((stub, original));
        Ok(())
    }
}

/// Emits original instruction `ins` (with `bytes`), its charge if it leads
/// a block first.
fn emit(
    out: &mut Out,
    ins: &Ins,
    bytes: &[u8],
    pool: &Pool,
    stats: &mut TranslationStats,
) -> Result<u32, TranslateError> {
    if ins.flags & LOOP_HEAD != 0 {
        let mut pad = (16 - out.here() % 16) % 16;
        while pad > 0 {
            let n = pad.min(9) as usize;
            out.code.extend_from_slice(NOPS[n - 1]);
            pad -= n as u32;
        }
    }
    let landing = out.here();
    out.address_map.push((landing, ins.ip));
    if ins.flags & LEADER != 0 {
        let counter = (stats.blocks % 4) as u8;
        stats.blocks += 1;
        out.charge(pool, ins.rest, counter);
    }
    let next = u64::from(ins.ip) + u64::from(ins.len);
    // The displacement of a direct branch is its last 1 or 4 bytes.
    let rel_target = |wide: bool| -> u32 {
        let rel = if wide {
            let b = &bytes[bytes.len() - 4..];
            i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            i64::from(bytes[bytes.len() - 1].cast_signed())
        };
        next.wrapping_add_signed(rel) as u32
    };
    let wide = ins.aux & WIDE_BRANCH != 0;
    match ins.kind {
        kind::JMP => {
            out.code.push(0xe9);
            out.rel32_to(rel_target(wide));
        }
        kind::CALL => {
            out.code.push(0xe8);
            out.rel32_to(rel_target(wide));
            out.return_sites.push(out.here());
        }
        kind::JCC => {
            out.code.extend_from_slice(&[0x0f, 0x80 | (ins.aux & 0x0f)]);
            out.rel32_to(rel_target(wide));
        }
        kind::LOOP => {
            out.code.extend_from_slice(&bytes[..bytes.len() - 1]);
            out.code.extend_from_slice(&[0x02, 0xeb, 0x05, 0xe9]);
            out.rel32_to(rel_target(false));
        }
        kind::RIPREL if ins.aux != 0 => {
            stats.absolute_operands += 1;
            let d = usize::from(ins.aux);
            let disp = i32::from_le_bytes([bytes[d], bytes[d + 1], bytes[d + 2], bytes[d + 3]]);
            let target = next.wrapping_add_signed(i64::from(disp)) as u32;
            out.code.extend_from_slice(&bytes[..d - 1]);
            out.code.push((bytes[d - 1] & !0x07) | 0x04);
            out.code.push(0x25);
            out.code.extend_from_slice(&target.to_le_bytes());
            out.code.extend_from_slice(&bytes[d + 4..]);
        }
        kind::RET => {
            stats.returns += 1;
            let at = out.code.len();
            out.code.extend_from_slice(&RET_CHECK);
            out.code.extend_from_slice(bytes);
            let stub_at = out.code.len();
            for j in RET_JAE {
                out.code[at + j] = (stub_at - (at + j + 1)) as u8;
            }
            let stub = out.here();
            out.code.extend_from_slice(&UD2);
            out.check_sites.push(CheckSite {
                stub,
                original: ins.ip,
                kind: CheckKind::Return,
            });
            out.address_map.push((stub, ins.ip));
        }
        kind::PLAIN => out.code.extend_from_slice(bytes),
        kind::UNLOCKED => {
            // The legacy prefixes come first (Intel SDM Vol. 2A, 2.1.1);
            // a REX prefix or the opcode ends them.
            let prefixes = bytes.iter().take_while(|b| is_legacy_prefix(**b)).count();
            out.code
                .extend(bytes[..prefixes].iter().filter(|b| **b != 0xf0));
            out.code.extend_from_slice(&bytes[prefixes..]);
        }
        _ => emit_decoded(out, ins, bytes, stats)?,
    }
    // A call that ends its section returns to a trap, as the original
    // would have returned outside code.
    if ins.flags & REGION_LAST != 0 && out.return_sites.last() == Some(&out.here()) {
        out.code.extend_from_slice(&UD2);
    }
    Ok(landing)
}

/// The rare kinds that need the decoded instruction and iced-x86's
/// encoder: RIP-relative operands that cannot be patched, checked indirect
/// transfers, bit scans and `rep` strings.
fn emit_decoded(
    out: &mut Out,
    ins: &Ins,
    bytes: &[u8],
    stats: &mut TranslationStats,
) -> Result<(), TranslateError> {
    let mut decoder = Decoder::with_ip(64, bytes, u64::from(ins.ip), DecoderOptions::NONE);
    let mut instr = decoder.decode();
    match ins.kind {
        kind::INDIRECT => {
            stats.indirect_branches += 1;
            checked_indirect(out, instr)
        }
        kind::BITSCAN => {
            stats.bit_scans += 1;
            if make_absolute(&mut instr)? {
                stats.absolute_operands += 1;
            }
            out.encode(&test_source(&instr)?)?;
            let at = out.code.len();
            out.code.extend_from_slice(&[0x74, 0]);
            out.encode(&instr)?;
            out.code[at + 1] = u8::try_from(out.code.len() - at - 2).map_err(|_| {
                TranslateError::Encoder("bit scan longer than a short branch".into())
            })?;
            Ok(())
        }
        kind::REP => {
            stats.rep_strings += 1;
            let size = string_operand(&instr).unwrap_or(8);
            for i in rep_charge(size)? {
                out.encode(&i)?;
            }
            out.code.extend_from_slice(bytes);
            Ok(())
        }
        _ => {
            stats.absolute_operands += 1;
            make_absolute(&mut instr)?;
            instr.set_has_lock_prefix(false);
            out.encode(&instr)
        }
    }
}

/// A checked indirect jump or call: through a register `r`, `cmp r, LIMIT;
/// jae S; cmp rsp, rsp; jmp/call qword gs:[r*8]`; through memory, the
/// target is loaded into `rax` (saved with a `push`), checked, looked up,
/// checked again, stored in the scratch slot below the restored `rsp` and
/// jumped to through it. `S` is a `ud2` right after a jump, at the end of
/// the code for a call (whose return site follows it).
fn checked_indirect(out: &mut Out, instr: Instruction) -> Result<(), TranslateError> {
    use Register::*;
    let e = encode_err;
    let call = instr.flow_control() == FlowControl::IndirectCall;
    let code = if call {
        Code::Call_rm64
    } else {
        Code::Jmp_rm64
    };
    let original = instr.ip() as u32;
    let mut pending = Vec::new();
    let kind = match instr.op0_kind() {
        OpKind::Register => {
            let reg = instr.op0_register();
            if reg.size() != 8 || reg == RSP {
                return Err(unsupported(
                    &instr,
                    "indirect branch through this register is not supported",
                ));
            }
            let kind = CheckKind::IndirectRegister {
                register: reg.number() as u8,
            };
            out.encode(&Instruction::with2(Code::Cmp_rm64_imm32, reg, LIMIT_IMM).map_err(e)?)?;
            check_branch(out, call, original, kind, &mut pending);
            out.code.extend_from_slice(&CMP_RSP_RSP);
            out.encode(&Instruction::with1(code, table_slot(reg)).map_err(e)?)?;
            kind
        }
        OpKind::Memory if instr.memory_size().size() == 8 => {
            let kind = CheckKind::IndirectMemory;
            let mut target = instr;
            make_absolute(&mut target)?;
            // The push moves rsp down by 8: an rsp-based operand moves its
            // displacement up by as much.
            let mem = memory_operand(&target, 8);
            out.encode(&Instruction::with1(Code::Push_r64, RAX).map_err(e)?)?;
            out.encode(&Instruction::with2(Code::Mov_r64_rm64, RAX, mem).map_err(e)?)?;
            out.encode(&Instruction::with2(Code::Cmp_rm64_imm32, RAX, LIMIT_IMM).map_err(e)?)?;
            check_branch(out, call, original, kind, &mut pending);
            out.encode(&Instruction::with2(Code::Mov_r64_rm64, RAX, table_slot(RAX)).map_err(e)?)?;
            out.encode(&Instruction::with2(Code::Cmp_rm64_imm32, RAX, LIMIT_IMM).map_err(e)?)?;
            check_branch(out, call, original, kind, &mut pending);
            out.encode(&Instruction::with2(Code::Mov_rm64_r64, stack_slot(-8), RAX).map_err(e)?)?;
            out.encode(&Instruction::with1(Code::Pop_r64, RAX).map_err(e)?)?;
            out.code.extend_from_slice(&CMP_RSP_RSP);
            out.encode(&Instruction::with1(code, stack_slot(-16)).map_err(e)?)?;
            kind
        }
        _ => {
            return Err(unsupported(
                &instr,
                "only 64-bit register or memory indirect branches are supported",
            ))
        }
    };
    if call {
        out.return_sites.push(out.here());
    } else {
        out.inline_stub(&pending, original, kind)?;
    }
    Ok(())
}

/// The `jae` of one check: short to the inline stub of a jump, near to a
/// deferred stub for a call.
fn check_branch(
    out: &mut Out,
    call: bool,
    original: u32,
    kind: CheckKind,
    pending: &mut Vec<usize>,
) {
    if call {
        out.jae_deferred(original, kind);
    } else {
        out.jae_short(pending);
    }
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
/// Time and memory are linear in the code: one decoding pass into 16 bytes
/// per instruction, one emitting pass that copies most instructions byte
/// for byte, and binary searches for branch targets; the prepared code is
/// bounded before it is emitted ([`MAX_EXPANSION`]).
///
/// Errors: [`TranslateError::Unsupported`] for an instruction the scheme
/// cannot express (an indirect branch through `rsp`, a RIP-relative operand
/// above 2 GiB), [`TranslateError::TooLarge`] when the prepared code could
/// exceed its region or [`MAX_EXPANSION`] times the code,
/// [`TranslateError::Encoder`] if iced-x86 refuses to encode.
pub fn translate(
    regions: &[CodeRegion<'_>],
    functions: &[FunctionSymbol],
) -> Result<Translation, TranslateError> {
    let code_bytes: u64 = regions.iter().map(|r| r.bytes.len() as u64).sum();
    let (ins, starts) = decode(regions, functions)?;
    let n = ins.len();
    let pool = Pool::new(ins.iter().map(|i| i.rest));
    let pool_bytes = 16 + 8 * pool.costs.len() as u64;
    let code_start = abi::PREPARED_CODE_BASE + pool_bytes.div_ceil(64) * 64;
    let bound = (code_start - abi::PREPARED_CODE_BASE) + ins.iter().map(size_bound).sum::<u64>();
    check_bound(bound, code_bytes)?;

    let mut stats = TranslationStats {
        code_bytes,
        instructions: n as u64,
        ..Default::default()
    };
    let mut out = Out {
        code: Vec::with_capacity(bound as usize),
        base: abi::PREPARED_CODE_BASE,
        encoder: iced_x86::Encoder::new(64),
        fixups: Vec::new(),
        deferred: Vec::new(),
        check_sites: Vec::new(),
        return_sites: Vec::new(),
        address_map: Vec::with_capacity(n),
    };
    out.code
        .resize((code_start - abi::PREPARED_CODE_BASE) as usize, 0);
    out.code[8..16].copy_from_slice(&REP_HUGE_COUNT_CHARGE.to_le_bytes());
    for (k, c) in pool.costs.iter().enumerate() {
        let at = 16 + 8 * k;
        out.code[at..at + 8].copy_from_slice(&c.to_le_bytes());
    }
    let mut branch_targets: Vec<(u32, u32)> = Vec::with_capacity(n);
    let mut k = 0;
    for region in regions {
        let end = region.addr + region.bytes.len() as u64;
        while k < n && u64::from(ins[k].ip) < end {
            let off = (u64::from(ins[k].ip) - region.addr) as usize;
            let bytes = &region.bytes[off..off + usize::from(ins[k].len)];
            let landing = emit(&mut out, &ins[k], bytes, &pool, &mut stats)?;
            branch_targets.push((ins[k].ip, landing));
            k += 1;
        }
    }
    finish(out, (ins, starts), branch_targets, &pool, functions, stats)
}

/// Refuses a translation whose bound exceeds the prepared-code region or
/// [`MAX_EXPANSION`] times the code.
fn check_bound(bound: u64, code_bytes: u64) -> Result<(), TranslateError> {
    let limit = MAX_EXPANSION * code_bytes + EXPANSION_SLACK;
    if bound > limit {
        return Err(TranslateError::Expansion {
            bound,
            code_bytes,
            limit,
        });
    }
    let region = abi::PREPARED_CODE_END - abi::PREPARED_CODE_BASE;
    if bound > region {
        return Err(TranslateError::TooLarge {
            bytes: bound,
            limit: region,
        });
    }
    Ok(())
}

/// Landing stubs, deferred check stubs, branch fixups and the tables.
fn finish(
    mut out: Out,
    (ins, starts): (Vec<Ins>, Starts),
    mut branch_targets: Vec<(u32, u32)>,
    pool: &Pool,
    functions: &[FunctionSymbol],
    mut stats: TranslationStats,
) -> Result<Translation, TranslateError> {
    // Landing stubs for instruction starts inside blocks: charge the rest
    // of the block, jump to the instruction.
    for (i, x) in ins.iter().enumerate() {
        if x.flags & LEADER != 0 {
            continue;
        }
        stats.stubs += 1;
        let stub = out.here();
        out.charge(pool, x.rest, 0);
        out.code.push(0xe9);
        let landing = branch_targets[i].1;
        let rel = i64::from(landing) - (i64::from(out.here()) + 4);
        out.code.extend_from_slice(&(rel as i32).to_le_bytes());
        branch_targets[i].1 = stub;
    }
    for (at, original, kind) in std::mem::take(&mut out.deferred) {
        let stub = out.here();
        let rel = i64::from(stub) - (i64::from(out.base as u32) + i64::from(at) + 4);
        out.code[at as usize..at as usize + 4].copy_from_slice(&(rel as i32).to_le_bytes());
        out.code.extend_from_slice(&UD2);
        out.check_sites.push(CheckSite {
            stub,
            original,
            kind,
        });
        out.address_map.push((stub, original));
    }
    // Direct branches go to the landing (with the charge) of their target,
    // which the verifier proved is an instruction start (or the host-call
    // entry, outside the code).
    let index_of = |addr: u32| starts.index(u64::from(addr));
    for &(at, target) in &out.fixups {
        // Targets are leaders (decode marks them), so their slot is their
        // landing, never a stub.
        let dest = index_of(target).map_or(i64::from(target), |i| i64::from(branch_targets[i].1));
        let rel = dest - (i64::from(out.base as u32) + i64::from(at) + 4);
        let rel = i32::try_from(rel)
            .map_err(|_| TranslateError::Encoder(format!("branch to {target:#x} out of range")))?;
        out.code[at as usize..at as usize + 4].copy_from_slice(&rel.to_le_bytes());
    }
    let total = out.code.len() as u64;
    let limit = abi::PREPARED_CODE_END - abi::PREPARED_CODE_BASE;
    if total > limit {
        return Err(TranslateError::TooLarge {
            bytes: total,
            limit,
        });
    }
    stats.prepared_bytes = total;
    out.address_map.sort_unstable();
    out.check_sites.sort_unstable_by_key(|c| c.stub);
    let mut methods = Vec::new();
    for f in functions.iter().filter(|f| f.method) {
        if let Some(t) = u32::try_from(f.addr).ok().and_then(index_of) {
            methods.push(PreparedMethod {
                name: f.name.clone(),
                original: f.addr,
                entry: u64::from(branch_targets[t].1),
            });
        }
    }
    let translation = Translation {
        base: out.base,
        code: out.code,
        branch_targets,
        return_sites: out.return_sites,
        check_sites: out.check_sites,
        address_map: out.address_map,
        methods,
        stats,
    };
    let needed = translation.page_tables();
    if needed > abi::PREPARED_PAGE_TABLES {
        return Err(TranslateError::PageTables {
            prepared_bytes: total,
            table_bytes: translation.table_bytes(),
            needed,
            limit: abi::PREPARED_PAGE_TABLES,
        });
    }
    Ok(translation)
}
