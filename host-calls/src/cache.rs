//! The host's side of the storage cache (`nativm_abi::storage_cache`): the
//! region at the end of the heap where the host-call gate serves storage
//! calls without a VM exit.
//!
//! Everything in it is writable by the contract, so every read of it here
//! is checked: an entry count is clamped to the cache's size, and an entry
//! in use whose lengths exceed the limits is [`CacheError::Damaged`] (the
//! call traps). A damaged cache can only be the contract's own doing.

use nativm_abi::storage_cache as sc;

use crate::dispatch::{GuestMemory, MemoryFault};

/// One entry in use, as read from guest memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    /// Its index (0..ENTRIES).
    pub index: u64,
    /// Its flags (`sc::PRESENT` set).
    pub flags: u32,
    /// The key (at most `sc::MAX_KEY_LEN` bytes).
    pub key: Vec<u8>,
    /// The value (at most `sc::MAX_VALUE_LEN` bytes; empty unless
    /// `sc::VALUE`).
    pub value: Vec<u8>,
}

/// Why the cache could not be used.
#[derive(Debug)]
pub(crate) enum CacheError {
    /// Guest memory of the cache could not be accessed (a host failure).
    Memory(MemoryFault),
    /// An entry's lengths exceed the limits: the contract wrote over the
    /// cache.
    Damaged(u64),
}

impl From<MemoryFault> for CacheError {
    fn from(fault: MemoryFault) -> Self {
        CacheError::Memory(fault)
    }
}

/// The cache at guest address `base`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StorageCache {
    base: u64,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes)
}

impl StorageCache {
    /// The cache at `base`.
    pub fn new(base: u64) -> Self {
        StorageCache { base }
    }

    fn entry_address(&self, index: u64) -> u64 {
        self.base + sc::HEADER_SIZE + index * sc::ENTRY_SIZE
    }

    /// Entries in use, clamped to the cache's size.
    pub fn count(&self, memory: &dyn GuestMemory) -> Result<u64, CacheError> {
        let bytes = memory.read(self.base, 8)?;
        let count = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        Ok(count.min(sc::ENTRIES))
    }

    /// Every entry in use (flag `PRESENT`), in index order.
    pub fn entries(&self, memory: &dyn GuestMemory) -> Result<Vec<CacheEntry>, CacheError> {
        let count = self.count(memory)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let bytes = memory.read(self.entry_address(0), count * sc::ENTRY_SIZE)?;
        let mut out = Vec::new();
        for (index, raw) in (0..count).zip(bytes.chunks(sc::ENTRY_SIZE as usize)) {
            let flags = u32_at(raw, 0);
            if flags & sc::PRESENT == 0 {
                continue;
            }
            let key_len = u64::from(u32_at(raw, 4));
            let value_len = u64::from(u32_at(raw, 8));
            if key_len > sc::MAX_KEY_LEN || value_len > sc::MAX_VALUE_LEN {
                return Err(CacheError::Damaged(index));
            }
            let key_at = sc::KEY_OFFSET as usize;
            let value_at = sc::VALUE_OFFSET as usize;
            let value = if flags & sc::VALUE != 0 {
                raw[value_at..value_at + value_len as usize].to_vec()
            } else {
                Vec::new()
            };
            out.push(CacheEntry {
                index,
                flags,
                key: raw[key_at..key_at + key_len as usize].to_vec(),
                value,
            });
        }
        Ok(out)
    }

    /// The first entry in use for `key`, if any.
    pub fn find(
        &self,
        memory: &dyn GuestMemory,
        key: &[u8],
    ) -> Result<Option<CacheEntry>, CacheError> {
        Ok(self.entries(memory)?.into_iter().find(|e| e.key == key))
    }

    /// Adds a clean entry for `key` (`value` `None`: absent from storage)
    /// if it fits and the cache has room; returns whether it did.
    pub fn insert(
        &self,
        memory: &mut dyn GuestMemory,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<bool, CacheError> {
        let value_len = value.map_or(0, <[u8]>::len) as u64;
        if key.len() as u64 > sc::MAX_KEY_LEN || value_len > sc::MAX_VALUE_LEN {
            return Ok(false);
        }
        let count = self.count(memory)?;
        if count >= sc::ENTRIES {
            return Ok(false);
        }
        let flags = sc::PRESENT | if value.is_some() { sc::VALUE } else { 0 };
        let mut entry = vec![0u8; sc::ENTRY_SIZE as usize];
        entry[0..4].copy_from_slice(&flags.to_le_bytes());
        entry[4..8].copy_from_slice(&(key.len() as u32).to_le_bytes());
        entry[8..12].copy_from_slice(&(value_len as u32).to_le_bytes());
        let key_at = sc::KEY_OFFSET as usize;
        entry[key_at..key_at + key.len()].copy_from_slice(key);
        if let Some(value) = value {
            let value_at = sc::VALUE_OFFSET as usize;
            entry[value_at..value_at + value.len()].copy_from_slice(value);
        }
        memory.write(self.entry_address(count), &entry)?;
        memory.write(self.base, &(count + 1).to_le_bytes())?;
        Ok(true)
    }

    /// Marks entry `index` evicted: the host holds the key's state now.
    pub fn evict(
        &self,
        memory: &mut dyn GuestMemory,
        entry: &CacheEntry,
    ) -> Result<(), CacheError> {
        let flags = entry.flags | sc::EVICTED;
        memory.write(self.entry_address(entry.index), &flags.to_le_bytes())?;
        Ok(())
    }
}
