//! Prepared (metered) code as the VMM loads it, and its code table.
//!
//! [`PreparedCode`] is plain data, built by the embedder from the
//! translator's output (`nativm_gas::Translation`), so the VMM depends on
//! no translator. The code table (`nativm_abi::CODE_TABLE_BASE`) is a
//! window of 8-byte slots indexed by a code address; only the pages holding
//! some valid slot are backed, so a table costs 8 bytes per byte of the code
//! it covers. Invalid slots in a backed page hold
//! `INVALID_TARGET_BASE + index` (an unmapped address, so the transfer
//! faults and the fault names the target); reading a slot of an unbacked
//! page faults on the read itself.

use std::collections::BTreeMap;

use nativm_abi as abi;

/// What a [`CheckSite`] checks (mirrors `nativm_gas::CheckKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// An indirect jump or call through general register `register`
    /// (hardware number, 0 = `rax` .. 15 = `r15`).
    IndirectRegister {
        /// Hardware number of the register holding the target.
        register: u8,
    },
    /// An indirect jump or call through memory; `rax` holds the target or
    /// its invalid slot (`INVALID_TARGET_BASE` + target).
    IndirectMemory,
    /// A return; the target is at `[rsp]`.
    Return,
}

/// The failure path of one checked transfer: its `ud2` at `stub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckSite {
    /// Prepared address of the `ud2`.
    pub stub: u32,
    /// Original address of the checked instruction.
    pub original: u32,
    /// What was checked.
    pub kind: CheckKind,
}

/// A method's entry in the prepared code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedMethod {
    /// Symbol name.
    pub name: String,
    /// Original address (the ELF symbol's value).
    pub original: u64,
    /// Prepared address of its first block.
    pub entry: u64,
}

/// A contract's prepared code, ready to map. All addresses are guest
/// virtual addresses; `u32` ones are below 2^32.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PreparedCode {
    /// Guest address of `code[0]` (`nativm_abi::PREPARED_CODE_BASE`).
    pub base: u64,
    /// The prepared-code bytes (constants, code, stubs).
    pub code: Vec<u8>,
    /// `(original instruction start, prepared address)`, sorted.
    pub branch_targets: Vec<(u32, u32)>,
    /// Prepared return sites, sorted (each its own code-table slot).
    pub return_sites: Vec<u32>,
    /// Failure paths of the checks, sorted by `stub`.
    pub check_sites: Vec<CheckSite>,
    /// `(prepared address, original address)` of every translated
    /// instruction and check stub, sorted by prepared address.
    pub address_map: Vec<(u32, u32)>,
    /// Exported methods.
    pub methods: Vec<PreparedMethod>,
}

impl PreparedCode {
    /// The original address of the instruction whose prepared code contains
    /// `prepared`, or `None` outside the prepared code.
    pub fn original_address(&self, prepared: u64) -> Option<u64> {
        if prepared < self.base || prepared >= self.base + self.code.len() as u64 {
            return None;
        }
        let p = u32::try_from(prepared).ok()?;
        let i = self.address_map.partition_point(|&(a, _)| a <= p);
        Some(u64::from(self.address_map.get(i.checked_sub(1)?)?.1))
    }

    /// The check site whose `ud2` is at `rip`, if any.
    pub fn check_site(&self, rip: u64) -> Option<&CheckSite> {
        let r = u32::try_from(rip).ok()?;
        let i = self.check_sites.binary_search_by_key(&r, |c| c.stub).ok()?;
        self.check_sites.get(i)
    }

    /// The kind of check of the transfer at original address `original`,
    /// if it is a checked one (a linear search: for naming traps only).
    pub fn check_kind_at(&self, original: u64) -> Option<CheckKind> {
        self.check_sites
            .iter()
            .find(|c| u64::from(c.original) == original)
            .map(|c| c.kind)
    }

    /// Every valid slot of the code table this code needs: each verified
    /// instruction start to its landing, each return site to itself.
    pub fn table_entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.branch_targets
            .iter()
            .map(|&(o, p)| (u64::from(o), u64::from(p)))
            .chain(
                self.return_sites
                    .iter()
                    .map(|&p| (u64::from(p), u64::from(p))),
            )
    }
}

/// Slots per table page.
const SLOTS_PER_PAGE: u64 = abi::PAGE_SIZE / 8;

/// The backed pages of the code table holding `entries` (`(index, value)`,
/// each index below `nativm_abi::CODE_TABLE_LIMIT`; others are ignored):
/// byte offset in the window -> 512 slots, sorted by offset.
pub fn table_pages(entries: impl IntoIterator<Item = (u64, u64)>) -> Vec<(u64, Vec<u64>)> {
    let mut pages: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (index, value) in entries {
        if index >= abi::CODE_TABLE_LIMIT {
            continue;
        }
        let first = index - index % SLOTS_PER_PAGE;
        let page = pages.entry(first * 8).or_insert_with(|| {
            (0..SLOTS_PER_PAGE)
                .map(|k| abi::INVALID_TARGET_BASE + first + k)
                .collect()
        });
        page[(index % SLOTS_PER_PAGE) as usize] = value;
    }
    pages.into_iter().collect()
}

/// What a page fault of a checked transfer means, if it is one:
/// `(trap name, message)`. `fault_address` is CR2; `origin` the original
/// address of the faulting instruction, if known; `kind` the kind of its
/// check, if known.
pub fn describe_check_fault(
    fault_address: u64,
    origin: Option<u64>,
    kind: Option<CheckKind>,
) -> Option<(&'static str, String)> {
    let at = origin.map_or(String::new(), |o| format!(" at {o:#x}"));
    let (name, what) = match kind {
        Some(CheckKind::Return) => ("invalid_return", "return"),
        Some(_) => ("invalid_branch_target", "indirect jump or call"),
        None => ("invalid_branch_target", "indirect jump, call or return"),
    };
    let within = |base: u64, len: u64| {
        (base..base + len)
            .contains(&fault_address)
            .then(|| fault_address - base)
    };
    if let Some(offset) = within(abi::CODE_TABLE_BASE, abi::CODE_TABLE_WINDOW) {
        return Some((
            name,
            format!(
                "{what}{at} to {:#x}, which is not the start of a verified instruction or a return site",
                offset / 8
            ),
        ));
    }
    if let Some(target) = within(abi::INVALID_TARGET_BASE, abi::CODE_TABLE_LIMIT) {
        return Some((
            name,
            format!("{what}{at} to {target:#x}, which is not the start of a verified instruction or a return site"),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_valid_slots_and_name_invalid_ones() {
        let pages = table_pages([
            (0x40_1000, 0x7100_0100),
            (0x40_1003, 0x7100_0200),
            (abi::CODE_TABLE_LIMIT, 1),
        ]);
        assert_eq!(pages.len(), 1, "indexes at or above the limit are ignored");
        let (offset, slots) = &pages[0];
        assert_eq!(*offset, 0x40_1000 * 8);
        assert_eq!(slots[0], 0x7100_0100);
        assert_eq!(slots[3], 0x7100_0200);
        assert_eq!(slots[1], abi::INVALID_TARGET_BASE + 0x40_1001);
    }

    #[test]
    fn check_faults_are_named() {
        let (name, msg) =
            describe_check_fault(abi::CODE_TABLE_BASE + 0x40_1234 * 8, Some(0x40_1000), None)
                .unwrap();
        assert_eq!(name, "invalid_branch_target");
        assert!(
            msg.contains("0x401234") && msg.contains("at 0x401000"),
            "{msg}"
        );
        let (_, msg) =
            describe_check_fault(abi::INVALID_TARGET_BASE + 0x40_1001, None, None).unwrap();
        assert!(msg.contains("0x401001"), "{msg}");
        let (name, _) =
            describe_check_fault(abi::CODE_TABLE_BASE + 8, None, Some(CheckKind::Return)).unwrap();
        assert_eq!(name, "invalid_return");
        assert!(describe_check_fault(0x40_0000, None, None).is_none());
    }
}
