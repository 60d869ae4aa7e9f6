//! `nativm debug`: one call under a GDB remote-protocol stub (the
//! `gdbstub` crate), in the contract's **original** addresses.
//!
//! The guest stops at the method's first instruction and waits for GDB.
//! GDB sees the ELF's addresses: RIP is the original address of the
//! prepared instruction about to run (`PreparedCode::original_address`), a
//! breakpoint at an original instruction start is set at the first byte
//! of its prepared code (its gas charge, where it has one), a single step
//! runs prepared instructions until RIP leaves the original instruction,
//! and memory reads of the stack show each prepared return site as the
//! original return address (calls stay real calls in prepared code, so
//! the stack holds prepared return addresses), so GDB's unwinder finds the
//! callers. Code reads come from the ELF's own segments, mapped read-only
//! at their addresses. Registers and memory are read-only: writes are
//! refused. How the VMM stops the guest: `nativm_vmm::debug`.
//!
//! A debugged call has no wall-clock limit, and is never a consensus
//! execution; its storage writes are committed like any call's only when
//! it ends `ok`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};

use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::{GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86_64CoreRegs;
use nativm_host_calls::CallContext;
use nativm_vmm::debug::{DebugHook, DebugMemory, DebugPlan, DebugStop, StopKind};
use nativm_vmm::{CallRequest, PreparedCode, VmmError};

use crate::receipt::{self, CallFacts};
use crate::{CallOptions, Engine, Error, Module, Receipt, StateDb};

/// Runs `method` of `module` under a GDB stub: listens on `gdb` (e.g.
/// `127.0.0.1:1234`; port 0 picks a free one), tells `listening` the
/// address, waits for one GDB client, serves it at every stop, reports the
/// call's end to it as the process's exit (code 0 when the call ends `ok`,
/// else 1), and returns the receipt.
///
/// Errors: [`Error::UnknownMethod`] (before listening); [`Error::DebugListen`]
/// naming the address when it cannot be listened on; as [`Engine::call`];
/// [`Error::Vmm`] with [`VmmError::UnexpectedExit`] when the GDB
/// connection fails.
pub fn debug_call(
    engine: &Engine,
    module: &Module,
    store: &StateDb,
    method: &str,
    options: &CallOptions,
    gdb: &str,
    listening: impl FnOnce(SocketAddr),
) -> Result<Receipt, Error> {
    let entry = module.entry(method)?;
    let gas_limit = options
        .gas_limit
        .unwrap_or(engine.config().default_gas_limit);
    let listener = TcpListener::bind(gdb).map_err(|source| Error::DebugListen {
        addr: gdb.to_string(),
        source,
    })?;
    if let Ok(addr) = listener.local_addr() {
        listening(addr);
    }
    let (conn, _) = listener.accept().map_err(|e| gdb_error(&e))?;
    conn.set_nodelay(true).ok();
    let code = crate::artifact::prepared_code(&module.artifact().translation);
    let mut hook = GdbHook::new(conn, code);
    let mut guest = engine.new_guest(module)?;
    let mut context = CallContext::new(store.backend(), module.code_hash(), options.caller);
    let request = CallRequest {
        entry,
        input: &options.input,
        caller: options.caller,
        timeout: None,
        gas_limit,
    };
    let (exit, stats) = guest.call_debugged(&request, &mut context, &mut hook)?;
    let facts = CallFacts {
        method,
        code_hash: module.code_hash(),
        gas_limit,
        timeout: std::time::Duration::MAX,
        warm: false,
        setup_ns: 0,
    };
    let mut receipt = receipt::receipt_of(exit, &stats, context.finish(), &facts)?;
    receipt.diagnostics.wall_time_ns = stats.wall_time_ns;
    if receipt.is_ok() {
        store.backend.commit(&receipt.outcome.changes)?;
    }
    hook.exited(u8::from(!receipt.is_ok()));
    Ok(receipt)
}

fn gdb_error(e: &dyn std::fmt::Display) -> VmmError {
    VmmError::UnexpectedExit {
        what: format!("GDB connection: {e}"),
    }
}

/// The state machine between stops.
type Machine = GdbStubStateMachine<'static, DebugTarget, TcpStream>;

/// The hook the VMM calls at every stop: hands the stop to GDB.
struct GdbHook {
    machine: Option<Machine>,
    target: DebugTarget,
}

impl GdbHook {
    fn new(conn: TcpStream, code: PreparedCode) -> GdbHook {
        GdbHook {
            machine: None,
            target: DebugTarget {
                stub: Some(GdbStub::new(conn)),
                code,
                breakpoints: BTreeSet::new(),
                stop: None,
                resume: None,
            },
        }
    }

    /// Serves GDB until it resumes the target; `None` when it disconnected.
    fn serve(&mut self, mut machine: Machine) -> Result<Option<Machine>, VmmError> {
        loop {
            machine = match machine {
                GdbStubStateMachine::Idle(mut g) => {
                    let byte = g.borrow_conn().read().map_err(|e| gdb_error(&e))?;
                    g.incoming_data(&mut self.target, byte)
                        .map_err(|e| gdb_error(&e))?
                }
                GdbStubStateMachine::Running(g) => return Ok(Some(g.into())),
                GdbStubStateMachine::CtrlCInterrupt(g) => g
                    .interrupt_handled(
                        &mut self.target,
                        Some(SingleThreadStopReason::Signal(Signal::SIGINT)),
                    )
                    .map_err(|e| gdb_error(&e))?,
                GdbStubStateMachine::Disconnected(_) => return Ok(None),
            };
        }
    }

    /// The call ended: tells GDB the process exited with `code`, and
    /// serves it until it disconnects (or the connection ends).
    fn exited(&mut self, code: u8) {
        let Some(GdbStubStateMachine::Running(g)) = self.machine.take() else {
            return;
        };
        self.target.stop = None;
        if let Ok(m) = g.report_stop(&mut self.target, SingleThreadStopReason::Exited(code)) {
            let _ = self.serve(m);
        }
    }

    /// The plan for the VMM after GDB resumed.
    fn plan(&mut self) -> DebugPlan {
        let breakpoints = self
            .target
            .breakpoints
            .iter()
            .filter_map(|&o| self.target.prepared_address(o))
            .collect();
        DebugPlan {
            single_step: self.target.resume == Some(Resume::Step),
            breakpoints,
        }
    }
}

impl DebugHook for GdbHook {
    fn stopped(&mut self, stop: &DebugStop) -> Result<DebugPlan, VmmError> {
        let original = self.target.code.original_address(stop.regs.rip);
        // A step goes on until RIP leaves the original instruction it
        // started in (and is back in contract code).
        if stop.kind == StopKind::Step {
            let started = self.target.stop.as_ref().and_then(|s| s.original);
            if original.is_none() || original == started {
                return Ok(self.plan());
            }
        }
        if stop.kind == StopKind::Breakpoint
            && !original.is_some_and(|o| self.target.breakpoints.contains(&o))
        {
            return Ok(self.plan());
        }
        self.target.stop = Some(Snapshot {
            regs: stop.regs,
            original,
            memory: stop.memory.clone(),
        });
        let machine = match (self.machine.take(), stop.kind) {
            (None, _) => {
                let stub = self.target.stub.take().expect("one GDB session per call");
                stub.run_state_machine(&mut self.target)
                    .map_err(|e| gdb_error(&e))?
            }
            (Some(GdbStubStateMachine::Running(g)), kind) => {
                let reason = if kind == StopKind::Step {
                    SingleThreadStopReason::DoneStep
                } else {
                    SingleThreadStopReason::SwBreak(())
                };
                g.report_stop(&mut self.target, reason)
                    .map_err(|e| gdb_error(&e))?
            }
            (Some(other), _) => other,
        };
        self.target.resume = None;
        match self.serve(machine)? {
            Some(m) => {
                self.machine = Some(m);
                Ok(self.plan())
            }
            // GDB went away: run to the end.
            None => Ok(DebugPlan::default()),
        }
    }
}

/// How GDB resumed the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resume {
    Continue,
    Step,
}

/// The guest at the current stop.
struct Snapshot {
    regs: kvm_bindings::kvm_regs,
    /// Original address of RIP, if it is in the prepared code.
    original: Option<u64>,
    memory: DebugMemory,
}

/// What GDB talks to.
struct DebugTarget {
    stub: Option<GdbStub<'static, DebugTarget, TcpStream>>,
    code: PreparedCode,
    /// Breakpoints, at original addresses.
    breakpoints: BTreeSet<u64>,
    stop: Option<Snapshot>,
    resume: Option<Resume>,
}

impl DebugTarget {
    /// The first prepared address of original instruction `original`.
    fn prepared_address(&self, original: u64) -> Option<u64> {
        let o = u32::try_from(original).ok()?;
        self.code
            .address_map
            .iter()
            .filter(|&&(_, orig)| orig == o)
            .map(|&(p, _)| u64::from(p))
            .min()
    }

    /// The original return address of a prepared return site, if `value`
    /// is one.
    fn original_return(&self, value: u64) -> Option<u64> {
        let v = u32::try_from(value).ok()?;
        self.code.return_sites.binary_search(&v).ok()?;
        self.code.original_address(value)
    }
}

impl Target for DebugTarget {
    type Arch = gdbstub_arch::x86::X86_64_SSE;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for DebugTarget {
    fn read_registers(&mut self, regs: &mut X86_64CoreRegs) -> TargetResult<(), Self> {
        let Some(stop) = &self.stop else {
            return Err(TargetError::NonFatal);
        };
        let r = &stop.regs;
        regs.regs = [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ];
        regs.rip = stop.original.unwrap_or(r.rip);
        regs.eflags = u32::try_from(r.rflags & 0xffff_ffff).unwrap_or(0);
        Ok(())
    }

    fn write_registers(&mut self, _: &X86_64CoreRegs) -> TargetResult<(), Self> {
        Err(TargetError::NonFatal)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let Some(stop) = &self.stop else {
            return Err(TargetError::NonFatal);
        };
        let n = stop.memory.read(start, data);
        if n == 0 && !data.is_empty() {
            return Err(TargetError::NonFatal);
        }
        // Prepared return sites on the stack read as original addresses.
        let in_stack = (nativm_abi::STACK_TOP - nativm_abi::MAX_STACK_SIZE)..nativm_abi::STACK_TOP;
        let first = start.next_multiple_of(8);
        let mut at = first;
        while at + 8 <= start + n as u64 {
            let i = (at - start) as usize;
            let word = u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
            if in_stack.contains(&at) {
                if let Some(o) = self.original_return(word) {
                    data[i..i + 8].copy_from_slice(&o.to_le_bytes());
                }
            }
            at += 8;
        }
        Ok(n)
    }

    fn write_addrs(&mut self, _: u64, _: &[u8]) -> TargetResult<(), Self> {
        Err(TargetError::NonFatal)
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for DebugTarget {
    fn resume(&mut self, _: Option<Signal>) -> Result<(), Self::Error> {
        self.resume = Some(Resume::Continue);
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for DebugTarget {
    fn step(&mut self, _: Option<Signal>) -> Result<(), Self::Error> {
        self.resume = Some(Resume::Step);
        Ok(())
    }
}

impl Breakpoints for DebugTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for DebugTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _: usize) -> TargetResult<bool, Self> {
        if self.prepared_address(addr).is_none() {
            return Ok(false);
        }
        self.breakpoints.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _: usize) -> TargetResult<bool, Self> {
        Ok(self.breakpoints.remove(&addr))
    }
}
