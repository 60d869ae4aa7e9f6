//! A pool of vCPU worker threads that run calls on warm guests.
//!
//! Validators submit calls from many threads; each call is served by one of
//! `workers` threads (crossbeam channels), and the receipt comes back
//! through a [`CallHandle`]. Every worker owns its guests: the warm-guest
//! cache of [`Engine::call`] is per thread, so a guest's vCPU always runs on
//! the thread that created it and no call path creates a VM once the worker
//! has a warm guest for the contract ([`Executor::prewarm`] makes sure of
//! that before the first call).
//!
//! Ordering: calls run concurrently, and never lose an update: each call
//! is committed only if what it read is still the committed state at its
//! commit, and is run again otherwise ([`Engine::call`]), so the receipts
//! are those of some serial order of the calls. Where the order matters
//! (a block), [`Executor::execute_block`] gives exactly the block order,
//! in parallel.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{select, unbounded, Receiver, Sender};

use crate::block::{self, BlockRun};
use crate::{
    Block, BlockOutcome, CallOptions, Engine, EngineConfig, Error, Module, Receipt, StateDb,
};

/// One call to run.
struct Job {
    module: Arc<Module>,
    store: Arc<StateDb>,
    method: String,
    options: CallOptions,
    reply: Sender<Result<Receipt, Error>>,
}

/// Work addressed to one worker: make sure it holds a warm guest.
/// Work for one particular worker.
enum Control {
    /// Make sure the worker holds a warm guest of `module`.
    Prewarm {
        module: Arc<Module>,
        done: Sender<Result<(), Error>>,
    },
    /// Work on a block until it is done.
    Block {
        run: Arc<BlockRun>,
        done: Sender<()>,
    },
}

/// The receipt of a submitted call, once a worker has run it.
pub struct CallHandle {
    reply: Receiver<Result<Receipt, Error>>,
}

impl CallHandle {
    /// Waits for the call to finish.
    ///
    /// Errors: as [`Engine::call`]; [`Error::ExecutorShutDown`] if no
    /// worker is left to run the call.
    pub fn wait(self) -> Result<Receipt, Error> {
        self.reply.recv().unwrap_or(Err(Error::ExecutorShutDown))
    }
}

/// A pool of worker threads running calls on warm guests.
pub struct Executor {
    engine: Arc<Engine>,
    jobs: Option<Sender<Job>>,
    control: Vec<Sender<Control>>,
    workers: Vec<JoinHandle<()>>,
}

impl Executor {
    /// Starts `workers` worker threads (0: one per available core).
    ///
    /// Errors: as [`Engine::new`] (KVM unavailable); [`Error::SpawnWorker`]
    /// if a thread cannot be started.
    pub fn new(config: EngineConfig, workers: usize) -> Result<Executor, Error> {
        let engine = Arc::new(Engine::new(config)?);
        let count = if workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        };
        let (jobs, job_queue) = unbounded::<Job>();
        let mut control = Vec::with_capacity(count);
        let mut handles = Vec::with_capacity(count);
        for index in 0..count {
            let (tx, rx) = unbounded::<Control>();
            control.push(tx);
            let engine = Arc::clone(&engine);
            let job_queue = job_queue.clone();
            let handle = std::thread::Builder::new()
                .name(format!("nativm-worker-{index}"))
                .spawn(move || worker(engine, job_queue, rx))
                .map_err(|source| Error::SpawnWorker { index, source })?;
            handles.push(handle);
        }
        Ok(Executor {
            engine,
            jobs: Some(jobs),
            control,
            workers: handles,
        })
    }

    /// The engine the workers share.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Makes every worker hold a booted guest for `module`, so that no call
    /// of it creates a VM. Waits until all have one.
    ///
    /// Errors: as [`Engine::prewarm`] when a guest cannot be created;
    /// [`Error::WorkerStopped`] if a worker has stopped.
    pub fn prewarm(&self, module: &Arc<Module>) -> Result<(), Error> {
        let mut waits = Vec::new();
        for (index, worker) in self.control.iter().enumerate() {
            let (done, wait) = unbounded();
            worker
                .send(Control::Prewarm {
                    module: Arc::clone(module),
                    done,
                })
                .map_err(|_| Error::WorkerStopped { index })?;
            waits.push(wait);
        }
        for (index, wait) in waits.into_iter().enumerate() {
            wait.recv().map_err(|_| Error::WorkerStopped { index })??;
        }
        Ok(())
    }

    /// Queues a call; any worker runs it. The handle's
    /// [`CallHandle::wait`] returns its receipt.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use nativm::{CallOptions, EngineConfig, Executor, Module, StateDb};
    /// let executor = Executor::new(EngineConfig::default(), 2)?;
    /// let fib = Arc::new(Module::from_file(executor.engine(), "target/contracts/fib.elf")?);
    /// let store = Arc::new(StateDb::in_memory());
    /// let handles: Vec<_> = (0..10u64)
    ///     .map(|n| executor.submit(&fib, &store, "fib", CallOptions::with_input(n.to_le_bytes().to_vec())))
    ///     .collect();
    /// for handle in handles {
    ///     assert!(handle.wait()?.is_ok());
    /// }
    /// # Ok::<(), nativm::Error>(())
    /// ```
    pub fn submit(
        &self,
        module: &Arc<Module>,
        store: &Arc<StateDb>,
        method: &str,
        options: CallOptions,
    ) -> CallHandle {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let job = Job {
            module: Arc::clone(module),
            store: Arc::clone(store),
            method: method.to_string(),
            options,
            reply,
        };
        if let Some(jobs) = &self.jobs {
            // If every worker has stopped the job (and its reply sender) is
            // dropped, and `wait` reports it.
            let _ = jobs.send(job);
        }
        CallHandle { reply: rx }
    }

    /// Runs a call on the pool and waits for its receipt.
    ///
    /// Errors: as [`CallHandle::wait`].
    pub fn call(
        &self,
        module: &Arc<Module>,
        store: &Arc<StateDb>,
        method: &str,
        options: CallOptions,
    ) -> Result<Receipt, Error> {
        self.submit(module, store, method, options).wait()
    }
}

impl Executor {
    /// Executes `block` against `store` on every worker (Block-STM, see
    /// [`crate::block`]) and commits its effects in one atomic commit.
    /// Receipts, gas and the state root are those of executing the
    /// transactions one after another in block order, for any number of
    /// workers.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use nativm::{Block, Deployment, EngineConfig, Executor, StateDb, Transaction};
    /// let executor = Executor::new(EngineConfig::default(), 2)?;
    /// let store = Arc::new(StateDb::open("state.redb")?);
    /// let elf = std::fs::read("target/contracts/counter.elf")
    ///     .map_err(|source| nativm::Error::Read { path: "counter.elf".into(), source })?;
    /// let counter = executor.engine().deploy(&store, &elf, &Deployment::default())?.address;
    /// let increment = Transaction {
    ///     to: counter,
    ///     method: "increment".into(),
    ///     input: 1u64.to_le_bytes().to_vec(),
    ///     gas: 1_000_000,
    ///     caller: [0; 32],
    ///     access_list: vec![b"count".to_vec()],
    /// };
    /// let block = Block { transactions: vec![increment; 100] };
    /// let outcome = executor.execute_block(&store, &block)?;
    /// assert!(outcome.receipts.iter().all(|r| r.is_ok()));
    /// println!("state root {}", hex::encode(outcome.state_root));
    /// # Ok::<(), nativm::Error>(())
    /// ```
    ///
    /// Errors: [`Error::TransactionRefused`] naming the transaction if one calls
    /// no account, an unknown method, or has a bad input or gas limit
    /// (nothing ran); a host failure of any transaction ([`Error::State`],
    /// [`Error::Timeout`], [`Error::Vmm`], ...) fails the block: nothing
    /// is committed. [`Error::WorkerStopped`] or [`Error::BlockIncomplete`]
    /// if a worker died.
    pub fn execute_block(
        &self,
        store: &Arc<StateDb>,
        block: &Block,
    ) -> Result<BlockOutcome, Error> {
        let started = std::time::Instant::now();
        block::check_block(&self.engine, store, block)?;
        let run = Arc::new(BlockRun::new(
            Arc::clone(&self.engine),
            Arc::clone(store),
            Arc::new(block.clone()),
        ));
        let mut waits = Vec::new();
        for (index, worker) in self.control.iter().enumerate() {
            let (done, wait) = unbounded();
            worker
                .send(Control::Block {
                    run: Arc::clone(&run),
                    done,
                })
                .map_err(|_| Error::WorkerStopped { index })?;
            waits.push(wait);
        }
        for (index, wait) in waits.into_iter().enumerate() {
            wait.recv().map_err(|_| Error::WorkerStopped { index })?;
        }
        let run = Arc::into_inner(run).ok_or(Error::WorkerStopped { index: 0 })?;
        run.finish_block(started)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.jobs.take();
        self.control.clear();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(engine: Arc<Engine>, jobs: Receiver<Job>, control: Receiver<Control>) {
    let mut control = Some(control);
    loop {
        let never = crossbeam_channel::never();
        select! {
            recv(jobs) -> job => match job {
                Ok(job) => {
                    let result = engine.call(&job.module, &job.store, &job.method, &job.options);
                    let _ = job.reply.send(result);
                }
                Err(_) => return,
            },
            recv(control.as_ref().unwrap_or(&never)) -> msg => match msg {
                Ok(Control::Prewarm { module, done }) => {
                    let _ = done.send(engine.prewarm(&module));
                }
                Ok(Control::Block { run, done }) => {
                    run.work();
                    // The executor takes the run back once every worker
                    // has let go of it.
                    drop(run);
                    let _ = done.send(());
                }
                Err(_) => control = None,
            },
        }
    }
}

/// Compile-time check that what crosses threads can.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Engine>();
    is::<Module>();
    is::<StateDb>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_whose_call_no_worker_will_run_reports_the_shutdown() {
        let (reply, rx) = crossbeam_channel::bounded::<Result<Receipt, Error>>(1);
        drop(reply);
        let handle = CallHandle { reply: rx };
        assert!(matches!(handle.wait(), Err(Error::ExecutorShutDown)));
    }
}
