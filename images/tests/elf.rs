//! Checks the built example contracts against the ABI's rules for contract
//! ELF files.

use goblin::elf::header::{EM_X86_64, ET_EXEC};
use goblin::elf::program_header::{PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_TLS};
use goblin::elf::sym::{STB_GLOBAL, STB_WEAK, STT_FUNC, STV_DEFAULT};
use goblin::elf::Elf;
use nativm_abi::{CONTRACT_WINDOW_END, CONTRACT_WINDOW_START};
use nativm_images::{contract_path, EXAMPLES};

/// The methods each of this crate's own examples must export, sorted.
const METHODS: &[(&str, &[&str])] = &[
    ("counter", &["get", "increment"]),
    ("echo", &["echo", "whoami"]),
    ("fib", &["fib"]),
    ("sha256", &["digest"]),
    ("sieve", &["sieve", "sieve_rounds"]),
    ("token", &["balance_of", "mint", "transfer"]),
];

/// Global or weak FUNC symbols: what a loader would treat as methods.
fn exported_functions(elf: &Elf) -> Vec<String> {
    let mut names: Vec<String> = elf
        .syms
        .iter()
        .filter(|s| {
            s.st_type() == STT_FUNC
                && (s.st_bind() == STB_GLOBAL || s.st_bind() == STB_WEAK)
                && s.st_shndx != 0
        })
        .map(|s| {
            assert_eq!(
                s.st_visibility(),
                STV_DEFAULT,
                "non-default visibility export"
            );
            elf.strtab.get_at(s.st_name).unwrap_or("?").to_string()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_example_is_listed() {
    for (name, _) in METHODS {
        assert!(EXAMPLES.contains(name), "{name} missing from EXAMPLES");
    }
}

#[test]
fn examples_are_valid_contract_elfs() {
    for &name in EXAMPLES {
        // Examples not in METHODS (added by other tests) only need >= 1 method.
        let methods = METHODS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
        let path = contract_path(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let elf = Elf::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));

        assert!(elf.is_64, "{name}: not ELF64");
        assert!(elf.little_endian, "{name}: not little-endian");
        assert_eq!(elf.header.e_type, ET_EXEC, "{name}: not ET_EXEC");
        assert_eq!(elf.header.e_machine, EM_X86_64, "{name}: not x86-64");
        assert!(elf.interpreter.is_none(), "{name}: has an interpreter");
        assert!(elf.dynamic.is_none(), "{name}: is dynamic");

        let mut loads = 0;
        let mut exec = 0;
        for ph in &elf.program_headers {
            assert_ne!(ph.p_type, PT_INTERP, "{name}: PT_INTERP");
            assert_ne!(ph.p_type, PT_DYNAMIC, "{name}: PT_DYNAMIC");
            assert_ne!(ph.p_type, PT_TLS, "{name}: PT_TLS");
            if ph.p_type != PT_LOAD {
                continue;
            }
            loads += 1;
            let start = ph.p_vaddr;
            let end = ph
                .p_vaddr
                .checked_add(ph.p_memsz)
                .expect("segment overflows");
            assert!(
                start >= CONTRACT_WINDOW_START && end <= CONTRACT_WINDOW_END,
                "{name}: segment {start:#x}..{end:#x} outside the contract window"
            );
            assert!(ph.p_filesz <= ph.p_memsz, "{name}: filesz > memsz");
            let wx = PF_W | PF_X;
            assert_ne!(ph.p_flags & wx, wx, "{name}: segment at {start:#x} is W+X");
            if ph.p_flags & PF_X != 0 {
                exec += 1;
            }
        }
        assert!(loads > 0, "{name}: no PT_LOAD");
        assert!(exec > 0, "{name}: no executable segment");

        let found = exported_functions(&elf);
        match methods {
            Some(m) => assert_eq!(found, m, "{name}: exported functions"),
            None => assert!(!found.is_empty(), "{name}: no methods"),
        }
        for s in elf
            .syms
            .iter()
            .filter(|s| s.st_type() == STT_FUNC && s.st_bind() == STB_GLOBAL)
        {
            // Every method lies in an executable segment.
            assert!(
                elf.program_headers.iter().any(|ph| ph.p_type == PT_LOAD
                    && ph.p_flags & PF_X != 0
                    && s.st_value >= ph.p_vaddr
                    && s.st_value < ph.p_vaddr + ph.p_memsz),
                "{name}: method at {:#x} not in an executable segment",
                s.st_value
            );
        }
    }
}
