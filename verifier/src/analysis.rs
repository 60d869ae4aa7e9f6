//! Rules 2-5 over the decoded code: complete decoding, the allow-list,
//! undefined flags, and direct control flow.

use iced_x86::{
    Decoder, DecoderError, DecoderOptions, FlowControl, Formatter, Instruction, IntelFormatter,
    Mnemonic, OpKind, RflagsBits,
};

use crate::allowlist;
use crate::elf::{CodeRegion, FunctionSymbol};
use crate::report::{IndirectBranch, Report, Rule, Violation};
use crate::Config;

/// The six arithmetic flags tracked by rule 4 (OF, SF, ZF, AF, CF, PF).
const ARITH_FLAGS: u32 = RflagsBits::OF
    | RflagsBits::SF
    | RflagsBits::ZF
    | RflagsBits::AF
    | RflagsBits::CF
    | RflagsBits::PF;
/// Flags state where the artifact sets every arithmetic flag to a fixed
/// value: after a return, and at the target of an indirect jump or call.
const CLOBBERED: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Falls through to the next instruction.
    Next,
    /// Direct unconditional jump.
    Jump,
    /// Direct conditional branch (falls through too).
    CondJump,
    /// Direct call (its return lands on the next instruction).
    Call,
    /// Indirect jump.
    IndirectJump,
    /// Indirect call.
    IndirectCall,
    /// Return.
    Return,
    /// Ends control flow with a trap or interrupt (ud2, int3, denied ones).
    Stop,
}

/// A decoded instruction, compact: 16 bytes, so a 4 MiB contract's
/// million instructions stay cache- and page-friendly.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Offset of the first byte in its region.
    offset: u32,
    /// Node index of the direct branch target, or `u32::MAX` (none, or not
    /// an instruction start); resolved by [`Analysis::index`].
    target: u32,
    /// Index of the region.
    region: u16,
    len: u8,
    flow: Flow,
    read: u8,
    undefined: u8,
    modified: u8,
    /// Bytes that did not decode (reported by rule 2).
    invalid: bool,
}

const NO_TARGET: u32 = u32::MAX;

/// Legacy prefixes (Intel SDM Vol. 2A, 2.1.1).
fn is_legacy_prefix(b: u8) -> bool {
    matches!(
        b,
        0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65
    )
}

/// Whether an operand-size prefix (66) precedes the opcode, among legacy
/// prefixes and REX bytes (in 64-bit mode 40-4F are always REX).
fn has_operand_size_prefix(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .take_while(|b| is_legacy_prefix(**b) || (0x40..=0x4f).contains(*b))
        .any(|b| *b == 0x66)
}

/// Whether an instruction that writes flags may, for some operand values,
/// leave every flag unchanged: shifts and rotates whose masked count is 0
/// (by CL, or an immediate that masks to 0), SHLD/SHRD by CL, and
/// REP-prefixed CMPS/SCAS when RCX is 0 (Intel SDM Vol. 2B, SAL/SAR/SHL/SHR
/// and RCL/RCR/ROL/ROR "Flags Affected": "If the count is 0, the flags are
/// not affected"; Vol. 2B, REP/REPE/REPNE).
fn may_leave_flags_unchanged(instr: &Instruction) -> bool {
    match instr.mnemonic() {
        Mnemonic::Shl
        | Mnemonic::Sal
        | Mnemonic::Shr
        | Mnemonic::Sar
        | Mnemonic::Rol
        | Mnemonic::Ror
        | Mnemonic::Rcl
        | Mnemonic::Rcr
        | Mnemonic::Shld
        | Mnemonic::Shrd => {
            let count = instr.op_count().saturating_sub(1);
            match instr.op_kind(count) {
                OpKind::Register => true,
                OpKind::Immediate8 => {
                    let width = if instr.op0_kind() == OpKind::Register {
                        instr.op0_register().size()
                    } else {
                        instr.memory_size().size()
                    };
                    let mask = if width == 8 { 0x3f } else { 0x1f };
                    let masked = instr.immediate8() & mask;
                    // RCL/RCR rotate through CF modulo 9 (bytes) or 17
                    // (words): a multiple leaves CF unchanged.
                    let through_carry = matches!(instr.mnemonic(), Mnemonic::Rcl | Mnemonic::Rcr);
                    masked == 0
                        || through_carry && width == 1 && masked.is_multiple_of(9)
                        || through_carry && width == 2 && masked.is_multiple_of(17)
                }
                _ => false,
            }
        }
        Mnemonic::Cmpsb
        | Mnemonic::Cmpsw
        | Mnemonic::Cmpsd
        | Mnemonic::Cmpsq
        | Mnemonic::Scasb
        | Mnemonic::Scasw
        | Mnemonic::Scasd
        | Mnemonic::Scasq => instr.has_rep_prefix() || instr.has_repne_prefix(),
        _ => false,
    }
}

/// Whether a SHL/SAL/SHR of an 8- or 16-bit operand may shift by at least
/// the operand width, leaving CF undefined (Intel SDM Vol. 2B,
/// SAL/SAR/SHL/SHR, "Flags Affected": CF "is undefined for SHL and SHR
/// instructions where the count is greater than or equal to the size (in
/// bits) of the destination operand"). The count is masked to 5 bits, so
/// only these widths can reach it; iced-x86 files CF as defined for them.
/// By CL the count may be anything: true.
fn shift_may_leave_cf_undefined(instr: &Instruction) -> bool {
    if !matches!(
        instr.mnemonic(),
        Mnemonic::Shl | Mnemonic::Sal | Mnemonic::Shr
    ) {
        return false;
    }
    let width = if instr.op0_kind() == OpKind::Register {
        instr.op0_register().size()
    } else {
        instr.memory_size().size()
    };
    if width != 1 && width != 2 {
        return false;
    }
    match instr.op1_kind() {
        OpKind::Immediate8 => usize::from(instr.immediate8() & 0x1f) >= 8 * width,
        OpKind::Register => true,
        _ => false,
    }
}

/// Names of flag bits, for messages.
fn flag_names(bits: u8) -> String {
    let names = [
        (RflagsBits::OF, "OF"),
        (RflagsBits::SF, "SF"),
        (RflagsBits::ZF, "ZF"),
        (RflagsBits::AF, "AF"),
        (RflagsBits::CF, "CF"),
        (RflagsBits::PF, "PF"),
    ];
    names
        .iter()
        .filter(|(b, _)| bits as u32 & b != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Symbolizes an address as `name+0xoff` with the function containing it.
pub struct Symbolizer<'a> {
    functions: &'a [FunctionSymbol],
}

impl<'a> Symbolizer<'a> {
    /// Over function symbols sorted by address.
    pub fn new(functions: &'a [FunctionSymbol]) -> Self {
        Symbolizer { functions }
    }

    /// `name+0xoff`, or `None` when no function contains the address.
    pub fn name(&self, addr: u64) -> Option<String> {
        let i = self.functions.partition_point(|f| f.addr <= addr);
        let f = self.functions.get(i.checked_sub(1)?)?;
        if f.size != 0 && addr >= f.addr.saturating_add(f.size) {
            return None;
        }
        Some(if addr == f.addr {
            f.name.clone()
        } else {
            format!("{}+{:#x}", f.name, addr - f.addr)
        })
    }
}

/// Instruction starts of one region as a bitmap (one bit per code byte)
/// with per-word rank counts: `node index of an address` in O(1), using an
/// eighth of a byte per byte of code plus 4 bytes per 64 bytes.
struct StartIndex {
    /// Bit `o` set when an instruction (or an undecodable run) starts at
    /// offset `o` of the region.
    bits: Vec<u64>,
    /// Set bits before each word.
    rank: Vec<u32>,
    /// Node index of the region's first node.
    base: usize,
}

impl StartIndex {
    fn new(len: usize, base: usize, offsets: impl Iterator<Item = usize>) -> Self {
        let words = len.div_ceil(64);
        let mut bits = vec![0u64; words];
        for o in offsets {
            bits[o / 64] |= 1 << (o % 64);
        }
        let mut rank = Vec::with_capacity(words);
        let mut count = 0u32;
        for w in &bits {
            rank.push(count);
            count += w.count_ones();
        }
        StartIndex { bits, rank, base }
    }

    fn index(&self, offset: usize) -> Option<usize> {
        let word = *self.bits.get(offset / 64)?;
        let bit = offset % 64;
        if word >> bit & 1 == 0 {
            return None;
        }
        let below = (word & ((1u64 << bit) - 1)).count_ones();
        Some(self.base + self.rank[offset / 64] as usize + below as usize)
    }
}

struct Analysis<'a, 'b> {
    regions: &'b [CodeRegion<'a>],
    nodes: Vec<Node>,
    /// For each region, the index of its first node.
    region_start: Vec<usize>,
    /// For each region, its instruction starts (built after the sweep).
    starts: Vec<StartIndex>,
    /// Direct branches: (node index, target address).
    branches: Vec<(u32, u64)>,
    symbols: Symbolizer<'b>,
    formatter: IntelFormatter,
}

impl<'a, 'b> Analysis<'a, 'b> {
    fn instruction_at(&self, node: &Node) -> (Instruction, Vec<u8>) {
        let region = &self.regions[node.region as usize];
        let offset = (node.offset as usize).min(region.bytes.len());
        let end = (offset + node.len.max(1) as usize).min(region.bytes.len());
        let bytes = &region.bytes[offset..end];
        let mut decoder = Decoder::with_ip(64, bytes, self.ip(node), DecoderOptions::NONE);
        (decoder.decode(), bytes.to_vec())
    }

    fn disassemble(&mut self, instr: &Instruction) -> String {
        let mut text = String::new();
        self.formatter.format(instr, &mut text);
        text
    }

    fn code_violation(
        &mut self,
        rule: Rule,
        class: &'static str,
        node: &Node,
        message: String,
    ) -> Violation {
        let (instr, bytes) = self.instruction_at(node);
        let disassembly = if instr.is_invalid() {
            "(bad)".to_string()
        } else {
            self.disassemble(&instr)
        };
        Violation {
            rule,
            class,
            section: self.regions[node.region as usize].name.clone(),
            address: Some(self.ip(node)),
            bytes,
            disassembly,
            symbol: self.symbols.name(self.ip(node)),
            message,
        }
    }

    /// Index of the node starting exactly at `addr`, if any.
    /// Guest address of a node.
    fn ip(&self, node: &Node) -> u64 {
        self.regions[node.region as usize].addr + u64::from(node.offset)
    }

    fn node_at(&self, addr: u64) -> Option<usize> {
        let r = self
            .regions
            .partition_point(|r| r.addr <= addr)
            .checked_sub(1)?;
        let offset = addr.checked_sub(self.regions[r].addr)?;
        if offset >= self.regions[r].bytes.len() as u64 {
            return None;
        }
        self.starts.get(r)?.index(offset as usize)
    }

    /// Builds the instruction-start index and resolves every direct branch
    /// target to a node index, once.
    fn index(&mut self) {
        for (r, region) in self.regions.iter().enumerate() {
            let from = self.region_start[r];
            let to = self
                .region_start
                .get(r + 1)
                .copied()
                .unwrap_or(self.nodes.len());
            let offsets = self.nodes[from..to].iter().map(|n| n.offset as usize);
            self.starts
                .push(StartIndex::new(region.bytes.len(), from, offsets));
        }
        for k in 0..self.branches.len() {
            let (node, target) = self.branches[k];
            self.nodes[node as usize].target = self.node_at(target).map_or(NO_TARGET, |t| t as u32);
        }
    }

    fn in_code(&self, addr: u64) -> bool {
        crate::elf::code_contains(self.regions, addr)
    }
}

/// Rule 2 and 3: linear sweep of every region. Returns the nodes.
fn sweep(a: &mut Analysis<'_, '_>, config: &Config, report: &mut Report) {
    let mut instr = Instruction::default();
    for (region_index, region) in a.regions.iter().enumerate() {
        a.region_start.push(a.nodes.len());
        report.stats.code_bytes += region.bytes.len() as u64;
        report.stats.code_sections += 1;
        let mut decoder = Decoder::with_ip(64, region.bytes, region.addr, DecoderOptions::NONE);
        let mut invalid_run: Option<(u64, usize)> = None;
        let mut truncated = false;
        while decoder.can_decode() {
            let offset = decoder.position();
            decoder.decode_out(&mut instr);
            let len = instr.len();
            let node_bytes = &region.bytes[offset..offset + len];
            let mut node = Node {
                offset: offset as u32,
                target: NO_TARGET,
                region: region_index as u16,
                len: len as u8,
                flow: Flow::Next,
                read: 0,
                undefined: 0,
                modified: 0,
                invalid: false,
            };
            if instr.is_invalid() {
                // Report a run of undecodable bytes once.
                match &mut invalid_run {
                    Some((_, n)) => *n += len,
                    None => invalid_run = Some((instr.ip(), len)),
                }
                truncated = decoder.last_error() == DecoderError::NoMoreBytes;
                node.flow = Flow::Stop;
                node.invalid = true;
                a.nodes.push(node);
                continue;
            }
            if let Some((start, n)) = invalid_run.take() {
                report
                    .violations
                    .push(invalid_violation(a, region_index, start, n, false));
            }
            report.stats.instructions += 1;
            node.read = (instr.rflags_read() & ARITH_FLAGS) as u8;
            node.undefined = (instr.rflags_undefined() & ARITH_FLAGS) as u8;
            if shift_may_leave_cf_undefined(&instr) {
                node.undefined |= RflagsBits::CF as u8;
            }
            node.modified = (instr.rflags_modified() & ARITH_FLAGS) as u8;
            node.flow = match instr.flow_control() {
                FlowControl::Next => Flow::Next,
                FlowControl::UnconditionalBranch => Flow::Jump,
                FlowControl::ConditionalBranch => Flow::CondJump,
                FlowControl::Call => Flow::Call,
                FlowControl::IndirectBranch => Flow::IndirectJump,
                FlowControl::IndirectCall => Flow::IndirectCall,
                FlowControl::Return => Flow::Return,
                FlowControl::Interrupt | FlowControl::Exception | FlowControl::XbeginXabortXend => {
                    Flow::Stop
                }
            };
            if matches!(node.flow, Flow::Jump | Flow::CondJump | Flow::Call) {
                // Only instructions with a near-branch operand have a target;
                // iced also files SYSCALL, SYSENTER, VMCALL... as calls.
                if matches!(
                    instr.op0_kind(),
                    OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
                ) {
                    a.branches
                        .push((a.nodes.len() as u32, instr.near_branch_target()));
                } else {
                    node.flow = Flow::Stop;
                }
            }
            if may_leave_flags_unchanged(&instr) {
                // Some executions change no flag at all: the flags keep
                // their state, which may be undefined.
                node.modified = 0;
            }
            let branch = node.flow != Flow::Next && node.flow != Flow::Stop;
            if branch && !has_operand_size_prefix(node_bytes) {
                // Any other Intel/AMD decoding difference iced knows of.
                let mut amd = Decoder::with_ip(64, node_bytes, instr.ip(), DecoderOptions::AMD);
                let other = amd.decode();
                if other.code() != instr.code() || other.len() != len {
                    let v = a.code_violation(
                        Rule::CompleteDecoding,
                        "vendor-dependent-encoding",
                        &node,
                        format!(
                            "Intel and AMD decode these bytes differently (AMD: {:?}, {} bytes)",
                            other.code(),
                            other.len()
                        ),
                    );
                    report.violations.push(v);
                }
            }
            if branch && has_operand_size_prefix(node_bytes) {
                let v = a.code_violation(
                    Rule::CompleteDecoding,
                    "vendor-dependent-encoding",
                    &node,
                    "66-prefixed near branch: Intel ignores the operand-size prefix in 64-bit mode, AMD truncates RIP to 16 bits (Intel SDM Vol. 2A, JMP/CALL/RET; AMD APM Vol. 3, 'Near Branches in 64-Bit Mode')".into(),
                );
                report.violations.push(v);
            }
            if let Some(refusal) = allowlist::check(&instr, config.allow_avx2) {
                let v = a.code_violation(Rule::AllowList, refusal.class, &node, refusal.message);
                report.violations.push(v);
                if node.flow == Flow::Next
                    && matches!(
                        instr.mnemonic(),
                        Mnemonic::Int | Mnemonic::Int1 | Mnemonic::Into
                    )
                {
                    node.flow = Flow::Stop;
                }
            }
            a.nodes.push(node);
        }
        if let Some((start, n)) = invalid_run.take() {
            report
                .violations
                .push(invalid_violation(a, region_index, start, n, truncated));
        }
    }
}

/// A run of `len` undecodable bytes at `start`; `truncated` when the last
/// one is an instruction cut off by the end of the section.
fn invalid_violation(
    a: &mut Analysis<'_, '_>,
    region_index: usize,
    start: u64,
    len: usize,
    truncated: bool,
) -> Violation {
    let region = &a.regions[region_index];
    let offset = (start.wrapping_sub(region.addr) as usize).min(region.bytes.len());
    let shown = &region.bytes[offset..(offset + len.min(16)).min(region.bytes.len())];
    Violation {
        rule: Rule::CompleteDecoding,
        class: if truncated {
            "truncated-instruction"
        } else {
            "invalid-encoding"
        },
        section: region.name.clone(),
        address: Some(start),
        bytes: shown.to_vec(),
        disassembly: "(bad)".into(),
        symbol: a.symbols.name(start),
        message: if truncated {
            format!("the last {len} bytes of {} are the start of an instruction cut off by the end of the section", region.name)
        } else {
            format!(
                "{len} bytes do not decode as valid 64-bit x86 code (Intel SDM Vol. 2, Appendix A)"
            )
        },
    }
}

/// Whether `addr` lies in the trusted runtime page
/// (`nativm_abi::RUNTIME_BASE .. RUNTIME_BASE + PAGE_SIZE`).
fn in_runtime_page(addr: u64) -> bool {
    (nativm_abi::RUNTIME_BASE..nativm_abi::RUNTIME_BASE + nativm_abi::PAGE_SIZE).contains(&addr)
}

/// The rule-5 message for a direct branch of kind `flow` into the runtime
/// page at `target`, or `None` when it is the one allowed form: a direct
/// `call` of `nativm_abi::HOSTCALL_ENTRY`.
fn runtime_page_refusal(flow: Flow, target: u64) -> Option<String> {
    let entry = nativm_abi::HOSTCALL_ENTRY;
    let (kind, hint) = match flow {
        Flow::Call if target == entry => return None,
        Flow::Call => ("call", ""),
        Flow::Jump if target == entry => (
            "jmp",
            "; a host call must be a `call` (for a tail call, `call` the entry and then `ret`)",
        ),
        Flow::Jump => ("jmp", ""),
        _ => ("conditional branch", ""),
    };
    Some(format!(
        "direct {kind} to {target:#x}, inside the trusted runtime page ({:#x}..{:#x}): the only direct branch allowed into it is `call {entry:#x}` (nativm_abi::HOSTCALL_ENTRY){hint}",
        nativm_abi::RUNTIME_BASE,
        nativm_abi::RUNTIME_BASE + nativm_abi::PAGE_SIZE,
    ))
}

/// Rule 5: direct branch targets, and falling off the end of code.
///
/// A direct branch (jmp, jcc, call, loop, jrcxz) must land on the start of
/// a decoded instruction inside executable code, with one exception: a
/// direct `call` of `nativm_abi::HOSTCALL_ENTRY`. Any other direct branch
/// into the runtime page is `branch-into-runtime`, a `jmp` to the entry
/// (a tail call) included: the page is entered only at its documented
/// point, in its documented way (docs/threat-model.md, "runtime page").
fn control_flow(a: &mut Analysis<'_, '_>, report: &mut Report) {
    for k in 0..a.branches.len() {
        let (index, target) = a.branches[k];
        let node = a.nodes[index as usize];
        // The runtime page is outside the contract window, so never code;
        // checked first all the same.
        if in_runtime_page(target) {
            if let Some(message) = runtime_page_refusal(node.flow, target) {
                let v = a.code_violation(Rule::ControlFlow, "branch-into-runtime", &node, message);
                report.violations.push(v);
            }
            continue;
        }
        if node.target != NO_TARGET && !a.nodes[node.target as usize].invalid {
            continue;
        }
        let (class, why) = if a.in_code(target) {
            (
                "branch-into-instruction",
                "is not the start of an instruction of the linear sweep (a jump into the middle of an instruction)",
            )
        } else {
            ("branch-outside-code", "lies outside executable code")
        };
        let message = format!("direct branch target {target:#x} {why}");
        let v = a.code_violation(Rule::ControlFlow, class, &node, message);
        report.violations.push(v);
    }
    for i in 0..a.nodes.len() {
        let node = a.nodes[i];
        if matches!(node.flow, Flow::IndirectJump | Flow::IndirectCall) {
            let (instr, _) = a.instruction_at(&node);
            let disassembly = a.disassemble(&instr);
            let address = a.ip(&node);
            report.indirect_branches.push(IndirectBranch {
                kind: if node.flow == Flow::IndirectJump {
                    "jmp"
                } else {
                    "call"
                },
                address,
                disassembly,
                symbol: a.symbols.name(address),
            });
        }
    }
    // The last instruction of each region must not fall through. A call may
    // end a region: if its callee returns, the return lands outside code and
    // faults (no page there is executable), deterministically.
    for r in 0..a.region_start.len() {
        let end = a.region_start.get(r + 1).copied().unwrap_or(a.nodes.len());
        if end == a.region_start[r] {
            continue;
        }
        let last = a.nodes[end - 1];
        if matches!(last.flow, Flow::Next | Flow::CondJump) && !last.invalid {
            let message = format!(
                "the last instruction of {} can fall through past the end of executable code",
                a.regions[r].name
            );
            let v = a.code_violation(Rule::ControlFlow, "falls-off-end", &last, message);
            report.violations.push(v);
        }
    }
}

/// Rule 4: forward dataflow of "possibly undefined" arithmetic flags over
/// the control-flow graph.
///
/// State at an instruction = the flags some path may have left undefined.
/// Transfer: `out = (in & !modified) | undefined` (iced-x86's
/// `rflags_modified` / `rflags_undefined`, from the Intel SDM flag
/// tables), except that an instruction that may leave all flags unchanged
/// for some operands ([`may_leave_flags_unchanged`]) gives `in | undefined`.
///
/// Edges: fall-through, direct branch targets, and direct call targets
/// (which receive the caller's state).
///
/// The flag model at transfers the CPU cannot see statically is that of the
/// artifact (the gas and prepared-image design): every return and
/// every indirect jump or call sets the arithmetic flags to a fixed value
/// before it lands. So the instruction after a call (where the callee's
/// `ret` lands), a method entry (entered from the runtime, which sets the
/// flags), and code with no known predecessor (reachable only through an
/// indirect branch, or dead padding) start with every flag defined. This is
/// what lets ordinary compiler output verify (e.g. code after a call to a
/// function that never returns, alignment padding after a `jmp`); it relies
/// on the artifact performing that clobbering.
fn undefined_flags(a: &mut Analysis<'_, '_>, functions: &[FunctionSymbol], report: &mut Report) {
    // One byte per instruction: bits 0-5 the possibly-undefined flags (as in
    // `RflagsBits`), bit 6 visited, bit 7 has a known predecessor.
    const VISITED: u8 = 0x40;
    const HAS_PRED: u8 = 0x80;
    const STATE: u8 = ARITH_FLAGS as u8;
    let n = a.nodes.len();
    let mut info = vec![0u8; n];
    for i in 0..n {
        let node = a.nodes[i];
        if matches!(
            node.flow,
            Flow::Next | Flow::CondJump | Flow::Call | Flow::IndirectCall
        ) && i + 1 < n
            && a.nodes[i + 1].region == node.region
        {
            info[i + 1] |= HAS_PRED;
        }
        if node.target != NO_TARGET {
            info[node.target as usize] |= HAS_PRED;
        }
    }
    let mut worklist: Vec<u32> = Vec::new();
    for f in functions.iter().filter(|f| f.method) {
        if let Some(m) = a.node_at(f.addr) {
            info[m] |= VISITED;
            worklist.push(m as u32);
        }
    }
    // Instructions with no known predecessor start with flags defined (see
    // above); so does any cycle only an indirect branch can enter, seeded by
    // the forward scan below. Each instruction is re-queued only when its
    // 6-bit state grows, so the whole analysis is linear in code size.
    for (i, byte) in info.iter_mut().enumerate() {
        if *byte & (HAS_PRED | VISITED) == 0 {
            *byte |= VISITED;
            worklist.push(i as u32);
        }
    }
    let mut scan = 0;
    loop {
        while let Some(i) = worklist.pop() {
            let i = i as usize;
            let node = a.nodes[i];
            let out = ((info[i] & STATE) & !node.modified) | node.undefined;
            let mut push = |j: usize, s: u8| {
                let old = info[j];
                let new = old | s | VISITED;
                if new != old {
                    info[j] = new;
                    worklist.push(j as u32);
                }
            };
            let same_region_next = i + 1 < n && a.nodes[i + 1].region == node.region;
            match node.flow {
                Flow::Next | Flow::CondJump if same_region_next => push(i + 1, out),
                Flow::Call | Flow::IndirectCall if same_region_next => push(i + 1, CLOBBERED),
                _ => {}
            }
            if node.target != NO_TARGET {
                push(node.target as usize, out);
            }
        }
        while scan < n && info[scan] & VISITED != 0 {
            scan += 1;
        }
        if scan == n {
            break;
        }
        info[scan] |= VISITED;
        worklist.push(scan as u32);
    }
    for (i, &byte) in info.iter().enumerate() {
        let node = a.nodes[i];
        let bad = byte & STATE & node.read;
        if bad == 0 {
            continue;
        }
        // Explain: the nearest earlier instruction in the same region that
        // leaves one of these flags undefined.
        let mut origin = String::new();
        for j in (i.saturating_sub(64)..i).rev() {
            let p = a.nodes[j];
            if p.region != node.region {
                break;
            }
            if p.undefined & bad != 0 {
                let (instr, _) = a.instruction_at(&p);
                origin = format!(
                    "; e.g. `{}` at {:#x} leaves them undefined",
                    a.disassemble(&instr),
                    a.ip(&p)
                );
                break;
            }
        }
        let message = format!(
            "reads {} which some path leaves undefined: Intel and AMD may differ (Intel SDM Vol. 1, Appendix A, EFLAGS cross-reference){origin}",
            flag_names(bad)
        );
        let v = a.code_violation(Rule::UndefinedFlags, "undefined-flag-read", &node, message);
        report.violations.push(v);
    }
}

/// Runs rules 2-5 over `regions` (sorted, inside the contract window),
/// adding violations, indirect branches and counts to `report`.
pub fn analyse(
    regions: &[CodeRegion<'_>],
    functions: &[FunctionSymbol],
    config: &Config,
    report: &mut Report,
) {
    let mut formatter = IntelFormatter::new();
    formatter.options_mut().set_first_operand_char_index(0);
    let mut a = Analysis {
        regions,
        // x86-64 code averages 3.5-4.5 bytes per instruction: one
        // allocation, no regrowth copies.
        nodes: Vec::with_capacity(regions.iter().map(|r| r.bytes.len() / 3 + 1).sum()),
        region_start: Vec::new(),
        starts: Vec::new(),
        branches: Vec::new(),
        symbols: Symbolizer::new(functions),
        formatter,
    };
    sweep(&mut a, config, report);
    a.index();
    control_flow(&mut a, report);
    undefined_flags(&mut a, functions, report);
    for f in functions.iter().filter(|f| f.method) {
        if a.in_code(f.addr) && a.node_at(f.addr).is_none() {
            report.violations.push(Violation {
                rule: Rule::ControlFlow,
                class: "method-not-instruction-start",
                section: ".symtab".into(),
                address: Some(f.addr),
                bytes: Vec::new(),
                disassembly: String::new(),
                symbol: Some(f.name.clone()),
                message: format!(
                    "method `{}` at {:#x} is not the start of an instruction",
                    f.name, f.addr
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operand_size_prefix_is_found_among_prefixes_and_rex() {
        assert!(
            has_operand_size_prefix(&[0x66, 0xe8, 0, 0]),
            "66 call rel16"
        );
        assert!(has_operand_size_prefix(&[0x48, 0x66, 0xc3]), "REX then 66");
        assert!(
            has_operand_size_prefix(&[0xf2, 0x66, 0x0f, 0x84, 0, 0]),
            "after another prefix"
        );
        assert!(
            !has_operand_size_prefix(&[0xe8, 0x66, 0, 0, 0]),
            "66 inside the displacement"
        );
        assert!(!has_operand_size_prefix(&[0xc3]));
    }

    #[test]
    fn flag_names_lists_the_bits() {
        assert_eq!(
            flag_names((RflagsBits::SF | RflagsBits::ZF) as u8),
            "SF, ZF"
        );
        assert_eq!(flag_names(0), "");
    }
}
