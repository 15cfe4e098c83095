//! The instance pool of one function: how many instances live, who waits,
//! and when idle ones are dropped.
//!
//! - A call takes the most recently used idle instance (warm start), or
//!   instantiates one while fewer than `max-instances` live (cold start), or
//!   waits in a queue of at most `max-queue` calls for at most the function's
//!   `timeout`; past either bound it fails with `SYS.Busy`.
//! - After the call a reusable instance goes back to the idle list
//!   (`instance-mode = "reuse"`); a trapped or interrupted one, or any
//!   instance in `"fresh"` mode, is dropped.
//! - The [`Reaper`] thread drops instances idle longer than `idle-timeout`
//!   down to `min-instances`, and instantiates up to `min-instances` again.
//!   With `min-instances = 0` an idle function holds no instance at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::component::LoadedComponent;
use super::engine::WasmEngine;
use super::host_api::{FunctionPre, FunctionShared, HostState};
use super::instance::{Caller, Instance};
use super::stats::{Start, Stats};
use super::{
    Call, Failure, FunctionLimits, FunctionSpec, FunctionStats, InstanceMode, Invocation, KvStore,
    KvWrites, codes,
};

/// How often the reaper looks for idle instances; idle-timeouts are honoured
/// to within this.
pub const REAPER_PERIOD: Duration = Duration::from_millis(50);

struct Idle {
    instance: Instance,
    since: Instant,
}

#[derive(Default)]
struct PoolState {
    /// Idle instances, least recently used first.
    idle: Vec<Idle>,
    /// Instances alive: idle, busy, or being instantiated.
    live: u32,
    /// Calls waiting for an instance.
    waiting: u32,
}

pub(crate) struct Pool {
    /// Keeps the epoch ticker alive while calls run, even after the host is dropped.
    _engine: Arc<WasmEngine>,
    shared: Arc<FunctionShared>,
    pre: FunctionPre<HostState>,
    limits: FunctionLimits,
    version: String,
    from_cache: bool,
    state: Mutex<PoolState>,
    available: Condvar,
    stats: Stats,
}

impl Pool {
    pub fn new(
        engine: Arc<WasmEngine>,
        kv: Arc<dyn KvStore>,
        spec: FunctionSpec,
        loaded: LoadedComponent,
    ) -> Self {
        Pool {
            shared: Arc::new(FunctionShared {
                name: spec.name,
                empty_root: engine.empty_root.clone(),
                config: spec.config,
                kv,
            }),
            pre: loaded.pre,
            limits: spec.limits,
            version: loaded.version,
            from_cache: loaded.from_cache,
            _engine: engine,
            state: Mutex::new(PoolState::default()),
            available: Condvar::new(),
            stats: Stats::default(),
        }
    }

    pub fn invoke(&self, call: Call) -> Invocation {
        let started = Instant::now();
        let id = swirl_core::ids::new_id();
        let (mut instance, start) = match self.acquire() {
            Ok(acquired) => acquired,
            Err(failure) => {
                let duration = started.elapsed();
                self.stats.record(Start::Busy, true, duration);
                return self.invocation(id, Err(failure), duration, Start::Busy);
            }
        };
        let caller = Caller {
            invocation_id: &id,
            version: &self.version,
            timeout: call.timeout.map_or(self.limits.timeout, |timeout| {
                timeout.min(self.limits.timeout)
            }),
        };
        let result = instance.call(&caller, &call);
        self.release(instance, result.reusable);

        let mut deferred = KvWrites::new();
        let outcome = match result.outcome {
            Ok(output) if call.defer_kv_writes => {
                deferred = result.kv_writes;
                Ok(output)
            }
            Ok(output) if !result.kv_writes.is_empty() => self
                .shared
                .kv
                .apply(&self.shared.name, &result.kv_writes)
                .map(|()| output)
                .map_err(|error| {
                    Failure::new(
                        codes::FAIL,
                        format!("cannot store the call's kv writes: {error}"),
                    )
                }),
            outcome => outcome,
        };
        let duration = started.elapsed();
        self.stats.record(start, outcome.is_err(), duration);
        Invocation {
            logs: result.logs,
            dropped_log_lines: result.dropped_log_lines,
            emitted: result.emitted,
            kv_writes: deferred,
            ..self.invocation(id, outcome, duration, start)
        }
    }

    fn invocation(
        &self,
        id: String,
        outcome: Result<Vec<u8>, Failure>,
        duration: Duration,
        start: Start,
    ) -> Invocation {
        Invocation {
            id,
            version: self.version.clone(),
            outcome,
            logs: Vec::new(),
            dropped_log_lines: 0,
            emitted: Vec::new(),
            kv_writes: KvWrites::new(),
            duration,
            cold_start: start == Start::Cold,
        }
    }

    pub fn config(&self) -> &std::collections::BTreeMap<String, String> {
        &self.shared.config
    }

    pub fn stats(&self) -> FunctionStats {
        let (live, idle) = {
            let state = self.lock();
            (state.live, state.idle.len() as u32)
        };
        self.stats
            .snapshot(&self.version, self.from_cache, live, idle)
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acquire(&self) -> Result<(Instance, Start), Failure> {
        let queue_deadline = Instant::now() + self.limits.timeout;
        let mut state = self.lock();
        loop {
            if let Some(idle) = state.idle.pop() {
                return Ok((idle.instance, Start::Warm));
            }
            if state.live < self.limits.max_instances {
                state.live += 1;
                drop(state);
                return self.instantiate().map(|instance| (instance, Start::Cold));
            }
            if state.waiting >= self.limits.max_queue {
                return Err(self.busy(format!(
                    "all {} instances are busy and {} calls already wait",
                    self.limits.max_instances, self.limits.max_queue
                )));
            }
            let now = Instant::now();
            if now >= queue_deadline {
                return Err(self.busy(format!(
                    "all {} instances stayed busy for {}",
                    self.limits.max_instances,
                    humantime::format_duration(self.limits.timeout)
                )));
            }
            state.waiting += 1;
            state = self
                .available
                .wait_timeout(state, queue_deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiting -= 1;
        }
    }

    fn busy(&self, why: String) -> Failure {
        Failure::new(
            codes::BUSY,
            format!(
                "function '{}' is busy: {why}; raise max-instances or max-queue, or retry later",
                self.shared.name
            ),
        )
    }

    /// Instantiates for a slot already counted in `live`; gives the slot back on failure.
    fn instantiate(&self) -> Result<Instance, Failure> {
        let instance = Instance::new(
            &self.pre,
            &self.shared,
            self.limits.memory,
            self.limits.timeout,
        );
        if instance.is_err() {
            let wake = {
                let mut state = self.lock();
                state.live -= 1;
                state.waiting > 0
            };
            self.wake_one(wake);
        }
        instance
    }

    fn release(&self, instance: Instance, reusable: bool) {
        let mut state = self.lock();
        let wake = state.waiting > 0;
        if reusable && self.limits.instance_mode == InstanceMode::Reuse {
            state.idle.push(Idle {
                instance,
                since: Instant::now(),
            });
            drop(state);
        } else {
            state.live -= 1;
            drop(state);
            // Dropping the store returns its slot to the pooling allocator.
            drop(instance);
        }
        self.wake_one(wake);
    }

    /// Wakes one waiting call if `wake`, which the caller read from `waiting`
    /// under the lock: a call counted there is already asleep on the condvar
    /// or will re-check the state first. Skipping the wake when nobody waits
    /// spares every call a futex syscall.
    fn wake_one(&self, wake: bool) {
        if wake {
            self.available.notify_one();
        }
    }

    /// Instantiates idle instances up to `min-instances`.
    pub fn warm_up(&self) {
        loop {
            {
                let mut state = self.lock();
                if state.live >= self.limits.min_instances.min(self.limits.max_instances) {
                    return;
                }
                state.live += 1;
            }
            match self.instantiate() {
                Ok(instance) => {
                    let wake = {
                        let mut state = self.lock();
                        state.idle.insert(
                            0,
                            Idle {
                                instance,
                                since: Instant::now(),
                            },
                        );
                        state.waiting > 0
                    };
                    self.wake_one(wake);
                }
                Err(failure) => {
                    tracing::warn!(function = %self.shared.name, %failure, "cannot keep a warm instance");
                    return;
                }
            }
        }
    }

    /// Drops instances idle past `idle-timeout`, keeping `min-instances` alive.
    fn reap(&self, now: Instant) {
        let expired: Vec<Idle> = {
            let mut state = self.lock();
            let mut expired = Vec::new();
            while state.live > self.limits.min_instances
                && state
                    .idle
                    .first()
                    .is_some_and(|idle| now.duration_since(idle.since) >= self.limits.idle_timeout)
            {
                expired.push(state.idle.remove(0));
                state.live -= 1;
            }
            expired
        };
        if !expired.is_empty() {
            tracing::debug!(function = %self.shared.name, dropped = expired.len(), "dropped idle instances");
        }
    }
}

/// The thread that keeps every pool within its idle and warm bounds.
pub(crate) struct Reaper {
    pools: Arc<Mutex<Vec<Weak<Pool>>>>,
    stop: Arc<AtomicBool>,
}

impl Reaper {
    pub fn start() -> std::io::Result<Self> {
        let pools: Arc<Mutex<Vec<Weak<Pool>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_pools, thread_stop) = (pools.clone(), stop.clone());
        thread::Builder::new()
            .name("swirl-reaper".into())
            .spawn(move || {
                while !thread_stop.load(Ordering::Relaxed) {
                    thread::sleep(REAPER_PERIOD);
                    let live: Vec<Arc<Pool>> = {
                        let mut pools = thread_pools.lock().unwrap_or_else(|e| e.into_inner());
                        pools.retain(|pool| pool.strong_count() > 0);
                        pools.iter().filter_map(Weak::upgrade).collect()
                    };
                    let now = Instant::now();
                    for pool in live {
                        pool.reap(now);
                        pool.warm_up();
                    }
                }
            })?;
        Ok(Reaper { pools, stop })
    }

    pub fn watch(&self, pool: &Arc<Pool>) {
        self.pools
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(pool));
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
