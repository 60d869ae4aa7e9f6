//! The verification report: every violation with its rule, place and
//! reason, the indirect branches left to the run-time check, and counts.

use serde::Serialize;

/// The six rules of the Deterministic AMD64 subset (see the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Rule 1: ELF structure (static ET_EXEC x86-64, placement, W^X, limits).
    ElfStructure,
    /// Rule 2: every byte of executable code decodes, identically on Intel
    /// and AMD, in one linear sweep.
    CompleteDecoding,
    /// Rule 3: only allow-listed instructions.
    AllowList,
    /// Rule 4: no read of a flag some path left undefined.
    UndefinedFlags,
    /// Rule 5: direct branches land on instruction starts inside code (the
    /// only other target is a direct `call` of the host-call entry), and
    /// control never falls off the end of code.
    ControlFlow,
}

impl Rule {
    /// The rule's number in the documentation (1-5).
    pub fn number(self) -> u8 {
        match self {
            Rule::ElfStructure => 1,
            Rule::CompleteDecoding => 2,
            Rule::AllowList => 3,
            Rule::UndefinedFlags => 4,
            Rule::ControlFlow => 5,
        }
    }

    /// Kebab-case name, as in JSON: `elf-structure`, `complete-decoding`,
    /// `allow-list`, `undefined-flags`, `control-flow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ElfStructure => "elf-structure",
            Rule::CompleteDecoding => "complete-decoding",
            Rule::AllowList => "allow-list",
            Rule::UndefinedFlags => "undefined-flags",
            Rule::ControlFlow => "control-flow",
        }
    }
}

/// One violation of one rule at one place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// A short, stable, machine-readable reason code, e.g. `time`,
    /// `randomness`, `cpu-identity`, `x87`, `mmx`, `segment-override`,
    /// `vendor-dependent-encoding`, `invalid-encoding`,
    /// `undefined-flag-read`, `branch-into-instruction`, `segment-wx`.
    /// The full list is in the crate documentation.
    pub class: &'static str,
    /// The ELF section (or segment, or "ELF header") where it is.
    pub section: String,
    /// Guest virtual address of the instruction or segment, when it has one.
    pub address: Option<u64>,
    /// The instruction's bytes (empty for non-code violations).
    #[serde(serialize_with = "hex_bytes")]
    pub bytes: Vec<u8>,
    /// The instruction in Intel syntax (empty for non-code violations).
    pub disassembly: String,
    /// The symbol containing the address, as `name+0xoffset`.
    pub symbol: Option<String>,
    /// What is wrong and why it matters, with the manual it comes from.
    pub message: String,
}

fn hex_bytes<S: serde::Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(value))
}

/// An indirect jump or call: allowed, and checked at run time by the
/// translated code (see the gas and prepared-image design).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndirectBranch {
    /// `jmp` or `call`.
    pub kind: &'static str,
    /// Address of the instruction.
    pub address: u64,
    /// The instruction in Intel syntax.
    pub disassembly: String,
    /// The symbol containing it, as `name+0xoffset`.
    pub symbol: Option<String>,
}

/// Counts of what was verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Bytes of executable code swept.
    pub code_bytes: u64,
    /// Instructions decoded.
    pub instructions: u64,
    /// Executable sections (or segments, without section headers) swept.
    pub code_sections: u64,
    /// Exported methods found.
    pub methods: u64,
}

/// The result of verifying one contract.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every violation found, in rule order, then address order.
    pub violations: Vec<Violation>,
    /// Indirect branches (allowed; checked at run time).
    pub indirect_branches: Vec<IndirectBranch>,
    /// Exported methods, by name.
    pub methods: Vec<String>,
    /// Counts.
    pub stats: Stats,
}

impl Report {
    /// Whether the contract verifies (no violation).
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations of one rule.
    pub fn of_rule(&self, rule: Rule) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(move |v| v.rule == rule)
    }

    /// Whether some violation has this rule and class.
    pub fn has(&self, rule: Rule, class: &str) -> bool {
        self.violations
            .iter()
            .any(|v| v.rule == rule && v.class == class)
    }

    /// One line: `verified: N instructions, M bytes of code, K methods, J
    /// indirect branches` or `rejected: N violations (...)`.
    pub fn summary(&self) -> String {
        if self.is_ok() {
            format!(
                "verified: {} instructions in {} bytes of code, {} methods, {} indirect branches checked at run time",
                self.stats.instructions,
                self.stats.code_bytes,
                self.stats.methods,
                self.indirect_branches.len()
            )
        } else {
            let mut per_rule: Vec<(Rule, usize)> = Vec::new();
            for v in &self.violations {
                match per_rule.iter_mut().find(|(r, _)| *r == v.rule) {
                    Some((_, n)) => *n += 1,
                    None => per_rule.push((v.rule, 1)),
                }
            }
            let parts: Vec<String> = per_rule
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            format!(
                "rejected: {} violations ({})",
                self.violations.len(),
                parts.join(", ")
            )
        }
    }

    /// The full report for a terminal: the summary, then one line per
    /// violation (rule, class, section, address, symbol, bytes,
    /// disassembly, message), then the indirect branches.
    pub fn to_text(&self) -> String {
        let mut out = self.summary();
        out.push('\n');
        for v in &self.violations {
            out += &format!(
                "  [rule {} {}/{}] {}",
                v.rule.number(),
                v.rule.as_str(),
                v.class,
                v.section
            );
            if let Some(addr) = v.address {
                out += &format!(" {addr:#x}");
            }
            if let Some(sym) = &v.symbol {
                out += &format!(" <{sym}>");
            }
            if !v.bytes.is_empty() {
                out += &format!(": {} ", hex::encode(&v.bytes));
            }
            if !v.disassembly.is_empty() {
                out += &format!("`{}`", v.disassembly);
            }
            out += &format!("\n      {}\n", v.message);
        }
        if !self.indirect_branches.is_empty() {
            out += &format!(
                "  indirect branches (checked at run time): {}\n",
                self.indirect_branches.len()
            );
            for b in &self.indirect_branches {
                out += &format!("    {:#x}", b.address);
                if let Some(sym) = &b.symbol {
                    out += &format!(" <{sym}>");
                }
                out += &format!(": `{}`\n", b.disassembly);
            }
        }
        out
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("reports always serialize")
    }
}
