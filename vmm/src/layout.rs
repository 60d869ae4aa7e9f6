//! The guest's memory map, page tables and x86 system tables (GDT, IDT, TSS).
//!
//! Every mapped page is identity-mapped (virtual address = guest physical
//! address), except the host-call doorbell, whose page points at a guest
//! physical address no memslot covers. The ABI-visible addresses come from
//! [`nativm_abi`]; this module adds the supervisor-only pieces.
//!
//! Sources: Intel SDM Vol. 3A, 4.5 "4-Level Paging" (page-table entry bits),
//! 3.4.5 "Segment Descriptors", 6.14.1 "64-Bit Mode IDT", 7.7 "Task
//! Management in 64-bit Mode" (TSS layout).

use nativm_abi as abi;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::elf::{ContractImage, ShimImage};
use crate::error::{memory_err, LayoutError, VmmError};
use crate::memory::SlotPlan;

/// GDT: null, kernel code, kernel data, user data, user code, 16-byte TSS.
pub const GDT_ADDR: u64 = abi::SHIM_SYSTEM_BASE;
/// IDT: 32 interrupt gates (16 bytes each) for the CPU exceptions.
pub const IDT_ADDR: u64 = abi::SHIM_SYSTEM_BASE + 0x1000;
/// The 64-bit TSS (104 bytes).
pub const TSS_ADDR: u64 = abi::SHIM_SYSTEM_BASE + 0x2000;
/// The trap report written by the shim's exception handlers ([`TrapReport`]).
pub const TRAP_REPORT_ADDR: u64 = abi::SHIM_SYSTEM_BASE + 0x3000;
/// Top of the ring-0 stack used for exceptions from ring 3 (TSS.RSP0).
pub const RING0_STACK_TOP: u64 = 0x1f_0000;
/// Top of the ring-0 stack used for double faults (TSS.IST1).
pub const DOUBLE_FAULT_STACK_TOP: u64 = 0x1f_8000;
/// Start of the ring-0 stacks (both lie in `RING0_STACK_BASE..SHIM_END`).
pub const RING0_STACK_BASE: u64 = 0x1e_0000;
/// I/O port the shim writes after filling the trap report (must equal
/// `nativm_guest_shim::TRAP_PORT`).
pub const TRAP_PORT: u16 = 0x10;
/// Magic value in [`TrapReport::magic`] once a report is complete ("trap").
pub const TRAP_MAGIC: u64 = 0x7261_7074;

/// Selector of the 64-bit ring-0 code segment.
pub const KERNEL_CS: u16 = 0x08;
/// Selector of the ring-0 data segment.
pub const KERNEL_DS: u16 = 0x10;
/// Selector of the ring-3 data segment (RPL 3).
pub const USER_DS: u16 = 0x1b;
/// Selector of the 64-bit ring-3 code segment (RPL 3).
pub const USER_CS: u16 = 0x23;
/// Selector of the TSS descriptor.
pub const TSS_SEL: u16 = 0x28;

/// Guest physical layout of the memslots. All are anonymous,
/// `MAP_NORESERVE` memory, so only touched pages cost host RAM.
///
/// * slot 0, `0..LOW_SLOT_SIZE` (1 GiB), identity-mapped: system pages,
///   page tables, shim, runtime, call info, and the contract's
///   read-only and executable segments. Not dirty-logged.
/// * slot 1, the input region at `nativm_abi::INPUT_BASE`, identity-mapped,
///   read-only to the guest. Not dirty-logged (only the host writes it).
/// * slot 2, at [`LOGGED_SLOT_BASE`]: every page a call can write (the
///   contract's writable segments, heap and stack), packed, and mapped at
///   their usual virtual addresses. Dirty-logged: `KVM_GET_DIRTY_LOG` costs
///   grow with the slot's size (measured here: 0.7 us for 16 MiB, 21.8 us for
///   2 GiB), so this slot holds nothing else.
pub const LOW_SLOT_SIZE: u64 = 0x4000_0000;
/// Guest physical base of the dirty-logged memslot (below the doorbell).
pub const LOGGED_SLOT_BASE: u64 = 0x8000_0000;
/// Guest physical base of the "hot" memslot: the pages nearly every call
/// writes (the top [`HOT_STACK_PAGES`] of the stack and the first page of
/// the return buffer). Dirty logging would make the first write to each of
/// them a write-protection fault inside KVM on every call (measured here:
/// a warm `fib(0)` spent 31 us in `KVM_RUN` with them logged, 19 us
/// without), so they are not logged; the reset zeroes them unconditionally.
pub const HOT_SLOT_BASE: u64 = 0xC000_0000;
/// Stack pages (from the top) kept in the hot memslot.
pub const HOT_STACK_PAGES: u64 = 2;
/// Guest physical base of the memslot holding a prepared contract's code
/// and its branch and return tables (read-only to the guest, not logged).
pub const PREPARED_SLOT_BASE: u64 = 0x2_0000_0000;

/// Number of vectors the IDT covers (the architectural exceptions 0-31).
pub const IDT_VECTORS: usize = 32;

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_USER: u64 = 1 << 2;
const PTE_NX: u64 = 1 << 63;
const PTE_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// How ring 3 may access a mapped range. Supervisor-only ranges have all
/// three false and `user` false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Writable (else read-only).
    pub write: bool,
    /// Executable (else NX).
    pub execute: bool,
    /// Accessible from ring 3 (else supervisor only).
    pub user: bool,
}

impl Access {
    /// Ring-0 code: read + execute, supervisor only.
    pub const KERNEL_CODE: Access = Access {
        write: false,
        execute: true,
        user: false,
    };
    /// Ring-0 data: read-only, supervisor only.
    pub const KERNEL_RO: Access = Access {
        write: false,
        execute: false,
        user: false,
    };
    /// Ring-0 data: read + write, supervisor only.
    pub const KERNEL_RW: Access = Access {
        write: true,
        execute: false,
        user: false,
    };
    /// Ring-3 code: read + execute.
    pub const USER_CODE: Access = Access {
        write: false,
        execute: true,
        user: true,
    };
    /// Ring-3 read-only data.
    pub const USER_RO: Access = Access {
        write: false,
        execute: false,
        user: true,
    };
    /// Ring-3 read + write data.
    pub const USER_RW: Access = Access {
        write: true,
        execute: false,
        user: true,
    };
}

/// One mapped range of guest virtual memory: `len` bytes (a multiple of
/// [`abi::PAGE_SIZE`]) from `va`, backed by guest physical memory from `gpa`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First virtual address (page aligned).
    pub va: u64,
    /// First guest physical address (page aligned).
    pub gpa: u64,
    /// Length in bytes (page multiple).
    pub len: u64,
    /// Access rights.
    pub access: Access,
    /// What the range is, for error messages ("heap", "stack", ".text"...).
    pub name: String,
}

/// The ring-3 view of the address space: which virtual ranges a contract
/// (and therefore a host-call pointer) may read or write. Built together with
/// the page tables, so the two cannot disagree.
#[derive(Clone, Debug, Default)]
pub struct UserMap {
    ranges: Vec<Mapping>,
}

/// Why a guest pointer was refused by [`UserMap::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessFault {
    /// The first address of the range that is not accessible.
    pub addr: u64,
    /// Whether a write was asked for.
    pub write: bool,
}

impl UserMap {
    /// Checks that all of `addr..addr+len` is mapped for ring 3, and writable
    /// when `write`. Identity-mapped, so the guest physical address equals
    /// `addr`. Errors: [`AccessFault`] naming the first bad address (also on
    /// overflow of `addr + len`).
    pub fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), AccessFault> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(AccessFault { addr, write })?;
        let mut cursor = addr;
        while cursor < end {
            let range = self
                .ranges
                .iter()
                .find(|m| m.va <= cursor && cursor < m.va + m.len)
                .filter(|m| m.access.user && (!write || m.access.write))
                .ok_or(AccessFault {
                    addr: cursor,
                    write,
                })?;
            cursor = range.va + range.len;
        }
        Ok(())
    }

    /// The guest physical spans behind `addr..addr+len`, in order, as
    /// (guest physical address, length) pairs, after the same checks as
    /// [`UserMap::check`]. Virtual and physical addresses differ for the
    /// pages a call may write (they live in the guest's logged memslot).
    ///
    /// Errors: [`AccessFault`] as [`UserMap::check`].
    pub fn spans(&self, addr: u64, len: u64, write: bool) -> Result<Vec<(u64, u64)>, AccessFault> {
        self.check(addr, len, write)?;
        let mut spans = Vec::new();
        let (mut cursor, end) = (addr, addr + len);
        while cursor < end {
            let m = self
                .ranges
                .iter()
                .find(|m| m.va <= cursor && cursor < m.va + m.len)
                .ok_or(AccessFault {
                    addr: cursor,
                    write,
                })?;
            let take = (m.va + m.len).min(end) - cursor;
            spans.push((m.gpa + (cursor - m.va), take));
            cursor += take;
        }
        Ok(spans)
    }

    /// The name of the mapping containing `addr`, if any ("heap", ".text"...).
    pub fn describe(&self, addr: u64) -> Option<&str> {
        self.ranges
            .iter()
            .find(|m| m.va <= addr && addr < m.va + m.len)
            .map(|m| m.name.as_str())
    }

    /// All mappings, in the order they were added.
    pub fn mappings(&self) -> &[Mapping] {
        &self.ranges
    }
}

/// The guest's 4-level page tables, kept in the page-table pool
/// ([`abi::PAGE_TABLE_BASE`]..[`abi::PAGE_TABLE_END`]) of guest memory, and
/// the ring-3 view ([`UserMap`]) of what they map.
#[derive(Clone, Debug)]
pub struct PageTables {
    next_free: u64,
    pml4: u64,
    user_map: UserMap,
    hidden: Vec<Mapping>,
}

impl PageTables {
    /// Starts an empty address space; allocates the PML4.
    ///
    /// Errors: [`VmmError::GuestMemory`] if guest memory cannot be written.
    pub fn new(memory: &GuestMemoryMmap) -> Result<Self, VmmError> {
        let mut tables = PageTables {
            next_free: abi::PAGE_TABLE_BASE,
            pml4: 0,
            user_map: UserMap::default(),
            hidden: Vec::new(),
        };
        tables.pml4 = tables.alloc_table(memory)?;
        Ok(tables)
    }

    /// Guest physical address of the PML4 (the value for CR3).
    pub fn cr3(&self) -> u64 {
        self.pml4
    }

    /// The mappings a host-call pointer may address (everything mapped with
    /// [`PageTables::map`], not [`PageTables::map_hidden`]).
    pub fn user_map(&self) -> &UserMap {
        &self.user_map
    }

    /// Page-table pages used so far (each [`abi::PAGE_SIZE`] bytes).
    pub fn pages_used(&self) -> u64 {
        (self.next_free - abi::PAGE_TABLE_BASE) / abi::PAGE_SIZE
    }

    fn alloc_table(&mut self, memory: &GuestMemoryMmap) -> Result<u64, VmmError> {
        if self.next_free >= abi::PAGE_TABLE_END {
            return Err(LayoutError::PageTablesExhausted {
                pages: (abi::PAGE_TABLE_END - abi::PAGE_TABLE_BASE) / abi::PAGE_SIZE,
            }
            .into());
        }
        let table = self.next_free;
        self.next_free += abi::PAGE_SIZE;
        let zero = [0u8; abi::PAGE_SIZE as usize];
        memory
            .write_slice(&zero, GuestAddress(table))
            .map_err(|_| memory_err("zeroing a page table", table, abi::PAGE_SIZE))?;
        Ok(table)
    }

    fn read_entry(memory: &GuestMemoryMmap, table: u64, index: u64) -> Result<u64, VmmError> {
        memory
            .read_obj::<u64>(GuestAddress(table + index * 8))
            .map_err(|_| memory_err("reading a page table", table + index * 8, 8))
    }

    fn write_entry(
        memory: &GuestMemoryMmap,
        table: u64,
        index: u64,
        value: u64,
    ) -> Result<(), VmmError> {
        memory
            .write_obj(value, GuestAddress(table + index * 8))
            .map_err(|_| memory_err("writing a page table", table + index * 8, 8))
    }

    /// The leaf page-table entry for `va`, if its tables exist (for tests
    /// and diagnostics).
    ///
    /// Errors: [`VmmError::GuestMemory`] if guest memory cannot be read.
    pub fn leaf_entry(&self, memory: &GuestMemoryMmap, va: u64) -> Result<Option<u64>, VmmError> {
        let mut table = self.pml4;
        for shift in [39u32, 30, 21] {
            let entry = Self::read_entry(memory, table, (va >> shift) & 0x1ff)?;
            if entry & PTE_PRESENT == 0 {
                return Ok(None);
            }
            table = entry & PTE_ADDR_MASK;
        }
        Ok(Some(Self::read_entry(memory, table, (va >> 12) & 0x1ff)?))
    }

    /// Maps `mapping` page by page and records it in the [`UserMap`].
    /// Intermediate entries are created permissive (present, writable,
    /// user); the leaf entry carries the rights (Intel SDM Vol. 3A, 4.6:
    /// rights combine across levels).
    ///
    /// Errors: [`VmmError::Layout`] when the range is not page aligned,
    /// overlaps an existing mapping, or the page-table pool runs out.
    pub fn map(&mut self, memory: &GuestMemoryMmap, mapping: Mapping) -> Result<(), VmmError> {
        self.map_pages(memory, &mapping)?;
        self.user_map.ranges.push(mapping);
        Ok(())
    }

    /// Like [`PageTables::map`], but leaves the range out of the
    /// [`UserMap`]: host-call pointers may never address it (the doorbell).
    ///
    /// Errors: as [`PageTables::map`].
    pub fn map_hidden(
        &mut self,
        memory: &GuestMemoryMmap,
        mapping: Mapping,
    ) -> Result<(), VmmError> {
        self.map_pages(memory, &mapping)?;
        self.hidden.push(mapping);
        Ok(())
    }

    fn map_pages(&mut self, memory: &GuestMemoryMmap, mapping: &Mapping) -> Result<(), VmmError> {
        let page = abi::PAGE_SIZE;
        if !mapping.va.is_multiple_of(page)
            || !mapping.gpa.is_multiple_of(page)
            || !mapping.len.is_multiple_of(page)
        {
            return Err(LayoutError::Unaligned {
                name: mapping.name.clone(),
                va: mapping.va,
                len: mapping.len,
            }
            .into());
        }
        if let Some(other) = self
            .user_map
            .ranges
            .iter()
            .chain(&self.hidden)
            .find(|m| mapping.va < m.va + m.len && m.va < mapping.va + mapping.len)
        {
            return Err(LayoutError::Overlap {
                name: mapping.name.clone(),
                va: mapping.va,
                end: mapping.va + mapping.len,
                other: other.name.clone(),
                other_va: other.va,
                other_end: other.va + other.len,
            }
            .into());
        }
        let mut leaf_flags = PTE_PRESENT;
        if mapping.access.write {
            leaf_flags |= PTE_WRITABLE;
        }
        if mapping.access.user {
            leaf_flags |= PTE_USER;
        }
        if !mapping.access.execute {
            leaf_flags |= PTE_NX;
        }
        let mut offset = 0;
        while offset < mapping.len {
            let va = mapping.va + offset;
            let gpa = mapping.gpa + offset;
            let mut table = self.pml4;
            for shift in [39u32, 30, 21] {
                let index = (va >> shift) & 0x1ff;
                let entry = Self::read_entry(memory, table, index)?;
                table = if entry & PTE_PRESENT != 0 {
                    entry & PTE_ADDR_MASK
                } else {
                    let next = self.alloc_table(memory)?;
                    Self::write_entry(
                        memory,
                        table,
                        index,
                        next | PTE_PRESENT | PTE_WRITABLE | PTE_USER,
                    )?;
                    next
                };
            }
            Self::write_entry(
                memory,
                table,
                (va >> 12) & 0x1ff,
                (gpa & PTE_ADDR_MASK) | leaf_flags,
            )?;
            offset += page;
        }
        Ok(())
    }
}

/// Whether a range is part of the ring-3 view host-call pointers may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// In the [`UserMap`] (host-call pointers may address it, as its
    /// rights allow).
    Listed,
    /// Mapped but left out of the [`UserMap`] (the doorbell, the code
    /// table): no host-call pointer may address it.
    Hidden,
}

/// One row of [`address_space`]: `(va, gpa, len, access, name, visibility)`.
type Row = (u64, u64, u64, Access, String, Visibility);

/// The guest's address space as a table: every mapping of a guest for
/// `contract` laid out by `plan`, except the code table (see
/// [`crate::prepared`]), in the order they are mapped. `prepared_len` is
/// the size of the prepared code in bytes (0 for none).
pub fn address_space(
    plan: &SlotPlan,
    shim: &ShimImage,
    contract: &ContractImage,
    prepared_len: u64,
) -> Vec<(Mapping, Visibility)> {
    let mut rows = system_rows(shim);
    rows.extend(contract_rows(plan, contract, prepared_len));
    rows.into_iter()
        .map(|(va, gpa, len, access, name, visibility)| {
            (
                Mapping {
                    va,
                    gpa,
                    len,
                    access,
                    name,
                },
                visibility,
            )
        })
        .collect()
}

/// The shim's pages, the runtime page and the call info.
fn system_rows(shim: &ShimImage) -> Vec<Row> {
    use Visibility::Listed;
    let page = abi::PAGE_SIZE;
    let mut rows: Vec<Row> = vec![(
        abi::SHIM_SYSTEM_BASE,
        abi::SHIM_SYSTEM_BASE,
        4 * page,
        Access::KERNEL_RW,
        "shim system tables".into(),
        Listed,
    )];
    for segment in &shim.segments {
        let (access, name) = if segment.access.user {
            (Access::USER_CODE, "runtime".to_string())
        } else if segment.access.execute {
            (Access::KERNEL_CODE, format!("shim {}", segment.name()))
        } else {
            (Access::KERNEL_RO, format!("shim {}", segment.name()))
        };
        let (start, len) = (
            segment.page_start(),
            segment.page_end() - segment.page_start(),
        );
        rows.push((start, start, len, access, name, Listed));
    }
    let ring0 = abi::SHIM_END - RING0_STACK_BASE;
    rows.push((
        RING0_STACK_BASE,
        RING0_STACK_BASE,
        ring0,
        Access::KERNEL_RW,
        "ring-0 stacks".into(),
        Listed,
    ));
    rows.push((
        abi::CALL_INFO,
        abi::CALL_INFO,
        page,
        Access::USER_RO,
        "call info".into(),
        Listed,
    ));
    rows
}

/// The contract's segments, heap, input, stack, return buffer, doorbell
/// and prepared code.
fn contract_rows(plan: &SlotPlan, contract: &ContractImage, prepared_len: u64) -> Vec<Row> {
    use Visibility::{Hidden, Listed};
    let (page, rw) = (abi::PAGE_SIZE, Access::USER_RW);
    let mut rows: Vec<Row> = contract
        .segments
        .iter()
        .map(|s| {
            let len = s.page_end() - s.page_start();
            let name = format!("contract {}", s.name());
            (
                s.page_start(),
                plan.placement(s),
                len,
                s.access,
                name,
                Listed,
            )
        })
        .collect();
    if plan.heap_size > 0 {
        rows.push((
            abi::HEAP_BASE,
            plan.heap_gpa,
            plan.heap_size,
            rw,
            "heap".into(),
            Listed,
        ));
    }
    // The whole input region, read-only, mapped once: page tables never
    // change after boot, so a warm guest's TLB can never go stale.
    let input = abi::INPUT_BASE;
    rows.push((
        input,
        input,
        abi::MAX_INPUT_LEN,
        Access::USER_RO,
        "input".into(),
        Listed,
    ));
    rows.extend(stack_rows(plan));
    // Ring 3 may store to the doorbell (the runtime page runs in ring 3),
    // but no host-call pointer may address it.
    rows.push((
        abi::DOORBELL_VA,
        abi::DOORBELL_GPA,
        page,
        rw,
        "doorbell".into(),
        Hidden,
    ));
    if prepared_len > 0 {
        let len = prepared_len.div_ceil(page) * page;
        let code = Access::USER_CODE;
        rows.push((
            abi::PREPARED_CODE_BASE,
            PREPARED_SLOT_BASE,
            len,
            code,
            "prepared code".into(),
            Listed,
        ));
    }
    rows
}

/// The stack and the return buffer (each split between the logged and the
/// hot slot).
fn stack_rows(plan: &SlotPlan) -> Vec<Row> {
    use Visibility::Listed;
    let (page, rw) = (abi::PAGE_SIZE, Access::USER_RW);
    let mut rows: Vec<Row> = Vec::new();
    let stack_base = abi::STACK_TOP - plan.stack_size;
    if plan.cold_stack > 0 {
        rows.push((
            stack_base,
            plan.cold_stack_gpa,
            plan.cold_stack,
            rw,
            "stack".into(),
            Listed,
        ));
    }
    let hot_va = stack_base + plan.cold_stack;
    rows.push((
        hot_va,
        HOT_SLOT_BASE,
        plan.hot_stack,
        rw,
        "stack (top)".into(),
        Listed,
    ));
    let ret = abi::RETURN_BUFFER;
    rows.push((
        ret,
        plan.hot_return_gpa,
        page,
        rw,
        "return buffer".into(),
        Listed,
    ));
    rows.push((
        ret + page,
        plan.cold_return_gpa,
        plan.cold_return,
        rw,
        "return buffer".into(),
        Listed,
    ));
    rows
}

/// The GDT: null, kernel code (64-bit), kernel data, user data, user code
/// (64-bit), and a 16-byte available 64-bit TSS descriptor at [`TSS_SEL`]
/// (Intel SDM Vol. 3A, 3.4.5 and 7.2.3).
pub fn gdt_entries() -> [u64; 7] {
    let tss_limit = 0x67u64;
    let base = TSS_ADDR;
    let tss_low = (tss_limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89u64 << 40)
        | (((base >> 24) & 0xff) << 56);
    let tss_high = base >> 32;
    [
        0,
        0x00af_9a00_0000_ffff, // kernel code: L=1, P, DPL0, execute/read
        0x00cf_9200_0000_ffff, // kernel data: P, DPL0, read/write
        0x00cf_f200_0000_ffff, // user data: P, DPL3, read/write
        0x00af_fa00_0000_ffff, // user code: L=1, P, DPL3, execute/read
        tss_low,
        tss_high,
    ]
}

/// Writes the GDT, the IDT (interrupt gates for vectors 0-31 pointing at the
/// shim's `isr_table`; #DF on IST1) and the TSS into guest memory.
///
/// `isr_addresses` are the handler addresses read from the shim.
///
/// Errors: [`VmmError::GuestMemory`] if guest memory cannot be written.
pub fn write_system_tables(
    memory: &GuestMemoryMmap,
    isr_addresses: &[u64; IDT_VECTORS],
) -> Result<(), VmmError> {
    let mem_err =
        |what: &'static str, _: vm_memory::GuestMemoryError| memory_err(what, GDT_ADDR, 0);
    for (i, entry) in gdt_entries().iter().enumerate() {
        memory
            .write_obj(*entry, GuestAddress(GDT_ADDR + 8 * i as u64))
            .map_err(|e| mem_err("writing the GDT", e))?;
    }
    for (vector, &handler) in isr_addresses.iter().enumerate() {
        let ist = if vector == 8 { 1u64 } else { 0 };
        let low = (handler & 0xffff)
            | ((KERNEL_CS as u64) << 16)
            | (ist << 32)
            | (0x8eu64 << 40) // present, DPL0, 64-bit interrupt gate
            | (((handler >> 16) & 0xffff) << 48);
        let high = handler >> 32;
        let at = IDT_ADDR + 16 * vector as u64;
        memory
            .write_obj(low, GuestAddress(at))
            .map_err(|e| mem_err("writing the IDT", e))?;
        memory
            .write_obj(high, GuestAddress(at + 8))
            .map_err(|e| mem_err("writing the IDT", e))?;
    }
    // 64-bit TSS: RSP0 at offset 4, IST1 at offset 36, I/O map base at 102
    // (set past the limit: no I/O permission bitmap).
    let mut tss = [0u8; 104];
    tss[4..12].copy_from_slice(&RING0_STACK_TOP.to_le_bytes());
    tss[36..44].copy_from_slice(&DOUBLE_FAULT_STACK_TOP.to_le_bytes());
    tss[102..104].copy_from_slice(&104u16.to_le_bytes());
    memory
        .write_slice(&tss, GuestAddress(TSS_ADDR))
        .map_err(|e| mem_err("writing the TSS", e))?;
    Ok(())
}

/// The trap report the shim writes at [`TRAP_REPORT_ADDR`] (u64 words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapReport {
    /// Exception vector (0-31).
    pub vector: u64,
    /// Error code pushed by the CPU, or 0.
    pub error_code: u64,
    /// RIP of the faulting instruction (or the next one, for traps).
    pub rip: u64,
    /// CS at the fault (RPL 3 = contract).
    pub cs: u64,
    /// RFLAGS at the fault.
    pub rflags: u64,
    /// RSP at the fault.
    pub rsp: u64,
    /// SS at the fault.
    pub ss: u64,
    /// CR2: the faulting linear address, meaningful for #PF.
    pub cr2: u64,
    /// [`TRAP_MAGIC`] when the shim completed the report.
    pub magic: u64,
    /// `rax` at the fault (the handler overwrites the register itself).
    pub rax: u64,
    /// `rdx` at the fault (likewise).
    pub rdx: u64,
}

impl TrapReport {
    /// Reads the report from guest memory.
    ///
    /// Errors: [`VmmError::GuestMemory`] if it cannot be read.
    pub fn read(memory: &GuestMemoryMmap) -> Result<Self, VmmError> {
        let mut words = [0u64; 11];
        for (i, word) in words.iter_mut().enumerate() {
            *word = memory
                .read_obj(GuestAddress(TRAP_REPORT_ADDR + 8 * i as u64))
                .map_err(|_| memory_err("reading the trap report", TRAP_REPORT_ADDR, 88))?;
        }
        Ok(TrapReport {
            vector: words[0],
            error_code: words[1],
            rip: words[2],
            cs: words[3],
            rflags: words[4],
            rsp: words[5],
            ss: words[6],
            cr2: words[7],
            magic: words[8],
            rax: words[9],
            rdx: words[10],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(va: u64, len: u64, access: Access) -> Mapping {
        Mapping {
            va,
            gpa: va,
            len,
            access,
            name: format!("r{va:#x}"),
        }
    }

    fn memory() -> GuestMemoryMmap {
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x100_0000)]).unwrap()
    }

    #[test]
    fn user_map_checks_rights_and_gaps() {
        let m = memory();
        let mut pt = PageTables::new(&m).unwrap();
        pt.map(&m, user(0x40_0000, 0x2000, Access::USER_CODE))
            .unwrap();
        pt.map(&m, user(0x40_2000, 0x1000, Access::USER_RW))
            .unwrap();
        pt.map(&m, user(0x50_0000, 0x1000, Access::KERNEL_RW))
            .unwrap();
        pt.map_hidden(&m, user(0x60_0000, 0x1000, Access::USER_RW))
            .unwrap();
        let map = pt.user_map();
        assert!(map.check(0x40_0000, 0x3000, false).is_ok());
        assert_eq!(
            map.check(0x40_1ff0, 0x20, true).unwrap_err().addr,
            0x40_1ff0
        );
        assert!(map.check(0x40_2000, 0x1000, true).is_ok());
        assert_eq!(map.check(0x40_2ff8, 16, false).unwrap_err().addr, 0x40_3000);
        assert!(map.check(0x50_0000, 1, false).is_err(), "supervisor page");
        assert!(map.check(0x60_0000, 1, false).is_err(), "hidden page");
        assert!(map.check(u64::MAX - 1, 4, false).is_err(), "overflow");
        assert!(map.check(0, 0, true).is_ok(), "empty range");
    }

    #[test]
    fn overlapping_mappings_are_refused() {
        let m = memory();
        let mut pt = PageTables::new(&m).unwrap();
        pt.map(&m, user(0x40_0000, 0x2000, Access::USER_CODE))
            .unwrap();
        let err = pt
            .map(&m, user(0x40_1000, 0x1000, Access::USER_RW))
            .unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
        let err = pt
            .map(&m, user(0x40_2001, 0x1000, Access::USER_RW))
            .unwrap_err();
        assert!(err.to_string().contains("aligned"), "{err}");
    }

    #[test]
    fn leaf_entries_carry_rights() {
        let m = memory();
        let mut pt = PageTables::new(&m).unwrap();
        pt.map(&m, user(0x40_0000, 0x1000, Access::USER_CODE))
            .unwrap();
        pt.map(&m, user(0x40_1000, 0x1000, Access::USER_RW))
            .unwrap();
        pt.map(&m, user(0x40_2000, 0x1000, Access::KERNEL_RO))
            .unwrap();
        let bits = PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_NX;
        assert_eq!(
            pt.leaf_entry(&m, 0x40_0000).unwrap().unwrap() & bits,
            PTE_PRESENT | PTE_USER
        );
        let data = pt.leaf_entry(&m, 0x40_1000).unwrap().unwrap();
        assert_eq!(data & bits, bits);
        assert_eq!(data & PTE_ADDR_MASK, 0x40_1000);
        assert_eq!(
            pt.leaf_entry(&m, 0x40_2000).unwrap().unwrap() & bits,
            PTE_PRESENT | PTE_NX
        );
        assert_eq!(
            pt.leaf_entry(&m, 0x40_3000).unwrap().unwrap(),
            0,
            "unmapped page"
        );
        assert_eq!(pt.leaf_entry(&m, 0x8000_0000).unwrap(), None, "no tables");
    }
}
