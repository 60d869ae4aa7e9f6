//! Loading a prepared contract: the branch and return tables behind the GS
//! and FS bases, and naming faults of the prepared code's checks.
//!
//! A table is a 4 GiB window of 8-byte slots (see
//! `nativm_abi::BRANCH_TABLE_BASE`); only the pages holding some valid slot
//! are backed, so a table costs 8 bytes per byte of the code it covers.
//! Invalid slots in a backed page hold `invalid_base + slot` (an unmapped
//! address, so the transfer faults and the fault names the slot); reading a
//! slot of an unbacked page faults on the read itself.

use std::collections::BTreeMap;

use nativm_abi as abi;

/// Slots per table page.
const SLOTS_PER_PAGE: u64 = abi::PAGE_SIZE / 8;

/// The slot a value selects: the prepared code indexes with `[r32*8]` under a
/// 32-bit address size, so the byte offset is `(r32 * 8) mod 2^32`.
pub fn slot_of(value: u64) -> u64 {
    ((value as u32 as u64) * 8 % abi::TABLE_WINDOW) / 8
}

/// The backed pages of one table: byte offset in the window -> 512 slots,
/// sorted by offset.
pub fn table_pages(
    entries: impl IntoIterator<Item = (u64, u64)>,
    invalid_base: u64,
) -> Vec<(u64, Vec<u64>)> {
    let mut pages: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (key, value) in entries {
        let slot = slot_of(key);
        let first = slot - slot % SLOTS_PER_PAGE;
        let page = pages.entry(first * 8).or_insert_with(|| {
            (0..SLOTS_PER_PAGE)
                .map(|k| invalid_base + first + k)
                .collect()
        });
        page[(slot % SLOTS_PER_PAGE) as usize] = value;
    }
    pages.into_iter().collect()
}

/// What a fault of the prepared code's branch checks means, if it is one:
/// `(exception name, message)`. `fault_address` is CR2 of a page fault;
/// `origin` the original address of the faulting instruction, if known.
pub fn describe_check_fault(
    fault_address: u64,
    origin: Option<u64>,
) -> Option<(&'static str, String)> {
    let at = origin.map_or(String::new(), |o| format!(" at {o:#x}"));
    let within = |base: u64| {
        (base..base + abi::TABLE_WINDOW)
            .contains(&fault_address)
            .then(|| fault_address - base)
    };
    if let Some(offset) = within(abi::BRANCH_TABLE_BASE) {
        return Some((
            "invalid_branch_target",
            format!(
                "indirect jump or call{at} to {:#x}, which is not the start of a verified instruction",
                offset / 8
            ),
        ));
    }
    if within(abi::RETURN_TABLE_BASE).is_some() {
        return Some((
            "invalid_return",
            format!("return{at} to an address that is not a return site (the return address was overwritten)"),
        ));
    }
    if let Some(slot) = within(abi::INVALID_BRANCH_BASE) {
        return Some((
            "invalid_branch_target",
            format!("indirect jump or call to {slot:#x}, which is not the start of a verified instruction"),
        ));
    }
    if within(abi::INVALID_RETURN_BASE).is_some() {
        return Some((
            "invalid_return",
            "return to an address that is not a return site (the return address was overwritten)"
                .into(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_wrap_like_a_32_bit_address() {
        assert_eq!(slot_of(0x40_1000), 0x40_1000);
        assert_eq!(slot_of(0x7100_0040), 0x7100_0040 % (1 << 29));
        assert_eq!(slot_of(0x1_0040_1000), 0x40_1000);
        assert_eq!(slot_of(0x2040_1000), 0x40_1000);
    }

    #[test]
    fn pages_hold_valid_slots_and_name_invalid_ones() {
        let pages = table_pages(
            [(0x40_1000, 0x7100_0100), (0x40_1003, 0x7100_0200)],
            0x300_0000_0000,
        );
        assert_eq!(pages.len(), 1);
        let (offset, slots) = &pages[0];
        assert_eq!(*offset, 0x40_1000 * 8);
        assert_eq!(slots[0], 0x7100_0100);
        assert_eq!(slots[3], 0x7100_0200);
        assert_eq!(slots[1], 0x300_0000_0000 + 0x40_1001);
    }

    #[test]
    fn check_faults_are_named() {
        let (name, msg) =
            describe_check_fault(abi::BRANCH_TABLE_BASE + 0x40_1234 * 8, Some(0x40_1000)).unwrap();
        assert_eq!(name, "invalid_branch_target");
        assert!(
            msg.contains("0x401234") && msg.contains("at 0x401000"),
            "{msg}"
        );
        assert!(describe_check_fault(0x40_0000, None).is_none());
    }
}
