//! The run pool: the threads runs execute on, from their input to their
//! commit, with no hand-off between async workers and a blocking pool in
//! between (function calls are made inline, on the run's thread).
//!
//! The pool has as many threads as the machine has cores, so that runs use
//! the CPU fully and the async workers stay free for IO. Runs of one instance
//! never overlap: a job for an instance that is running waits in that
//! instance's mailbox and runs on the same thread right after, in order, so
//! no thread ever blocks on another's instance.
//!
//! Back-pressure: jobs that come from outside (a start, an event, a control
//! request) are refused with [`Busy`] once [`PoolConfig::queue_limit`] jobs
//! wait; the server answers those with 503 and `retry-after`. Jobs the engine
//! makes itself (a timer, a child's end, the rest of a long run) are always
//! taken, since refusing them would lose them.
//!
//! Interrupts: a job submitted as urgent (a cancel, a suspend) makes
//! [`RunPool::interrupted`] true for its instance until it starts, so that
//! a long run can stop at its next call and let it go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

/// Sizes of the run pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads that execute runs; 0 means one per core.
    pub threads: usize,
    /// Jobs from outside that may wait for a thread before new ones are
    /// refused.
    pub queue_limit: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            threads: 0,
            queue_limit: 4096,
        }
    }
}

/// Whether a job may be refused when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// From outside: refused with [`Busy`] when the queue is full.
    External,
    /// Made by the engine: always queued.
    Internal,
}

/// The queue is full; the request should be retried later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{queued} runs are waiting for the engine's {threads} run threads")]
pub struct Busy {
    pub queued: usize,
    pub threads: usize,
}

type Work = Box<dyn FnOnce() + Send>;

struct Job {
    instance: String,
    work: Work,
    urgent: bool,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Instances running now, each with the jobs waiting for its run to end.
    running: HashMap<String, VecDeque<Job>>,
    /// Urgent jobs not started yet, by instance.
    urgent: HashMap<String, usize>,
    /// Jobs not started yet, in `jobs` or in a mailbox.
    queued: usize,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    threads: usize,
    limit: usize,
}

/// Threads that execute runs; closed when dropped (the threads end once
/// the jobs queued before are done).
pub(crate) struct RunPool {
    shared: Arc<Shared>,
}

impl RunPool {
    pub fn new(config: PoolConfig) -> std::io::Result<Self> {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            ready: Condvar::new(),
            threads,
            limit: config.queue_limit,
        });
        for index in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("swirl-run-{index}"))
                .spawn(move || shared.work())?;
        }
        Ok(RunPool { shared })
    }

    /// Queues `work` for `instance`; `urgent` work interrupts the
    /// instance's run (see [`RunPool::interrupted`]).
    pub fn submit(
        &self,
        instance: &str,
        admission: Admission,
        urgent: bool,
        work: impl FnOnce() + Send + 'static,
    ) -> Result<(), Busy> {
        let mut queue = self.shared.lock();
        if admission == Admission::External && queue.queued >= self.shared.limit {
            return Err(Busy {
                queued: queue.queued,
                threads: self.shared.threads,
            });
        }
        queue.queued += 1;
        if urgent {
            *queue.urgent.entry(instance.to_string()).or_default() += 1;
        }
        queue.jobs.push_back(Job {
            instance: instance.to_string(),
            work: Box::new(work),
            urgent,
        });
        drop(queue);
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl RunPool {
    /// Whether urgent work for `instance` waits for its run to end.
    pub fn interrupted(&self, instance: &str) -> bool {
        self.shared.lock().urgent.contains_key(instance)
    }
}

impl Drop for RunPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Queue {
    /// Counts `job` as started.
    fn start(&mut self, job: &Job) {
        self.queued -= 1;
        if job.urgent
            && let Some(count) = self.urgent.get_mut(&job.instance)
        {
            *count -= 1;
            if *count == 0 {
                self.urgent.remove(&job.instance);
            }
        }
    }
}

impl Shared {
    fn work(&self) {
        while let Some((instance, work)) = self.next() {
            work();
            // The instance's mailbox, in order, on this thread.
            loop {
                let mut queue = self.lock();
                let next = queue
                    .running
                    .get_mut(&instance)
                    .and_then(VecDeque::pop_front);
                match next {
                    Some(job) => {
                        queue.start(&job);
                        drop(queue);
                        (job.work)();
                    }
                    None => {
                        queue.running.remove(&instance);
                        break;
                    }
                }
            }
        }
    }

    /// The next job whose instance is not running, marked running; `None`
    /// once the pool is closed and empty.
    fn next(&self) -> Option<(String, Work)> {
        let mut queue = self.lock();
        loop {
            while let Some(job) = queue.jobs.pop_front() {
                if let Some(mailbox) = queue.running.get_mut(&job.instance) {
                    mailbox.push_back(job);
                    continue;
                }
                queue.start(&job);
                queue.running.insert(job.instance.clone(), VecDeque::new());
                return Some((job.instance, job.work));
            }
            if queue.closed {
                return None;
            }
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn jobs_of_one_instance_run_one_at_a_time_in_order() {
        let pool = RunPool::new(PoolConfig {
            threads: 4,
            queue_limit: 1000,
        })
        .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let (done, finished) = mpsc::channel();
        for n in 0..200 {
            let (running, done) = (running.clone(), done.clone());
            pool.submit("a", Admission::Internal, false, move || {
                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "overlap");
                std::thread::sleep(std::time::Duration::from_micros(50));
                running.fetch_sub(1, Ordering::SeqCst);
                done.send(n).unwrap();
            })
            .unwrap();
        }
        let order: Vec<i32> = (0..200).map(|_| finished.recv().unwrap()).collect();
        assert_eq!(order, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn other_instances_run_while_one_is_busy() {
        let pool = RunPool::new(PoolConfig {
            threads: 2,
            queue_limit: 1000,
        })
        .unwrap();
        let (release, blocked) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel();
        pool.submit("slow", Admission::Internal, false, move || {
            blocked.recv().unwrap();
        })
        .unwrap();
        for _ in 0..3 {
            pool.submit("slow", Admission::Internal, false, || {})
                .unwrap();
        }
        for n in 0..10 {
            let done = done.clone();
            pool.submit(
                &format!("fast-{n}"),
                Admission::Internal,
                false,
                move || {
                    done.send(n).unwrap();
                },
            )
            .unwrap();
        }
        for _ in 0..10 {
            finished
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
        }
        release.send(()).unwrap();
    }

    #[test]
    fn a_full_queue_refuses_outside_jobs_but_takes_the_engines_own() {
        let pool = RunPool::new(PoolConfig {
            threads: 1,
            queue_limit: 2,
        })
        .unwrap();
        let (release, blocked) = mpsc::channel::<()>();
        let (started, running) = mpsc::channel();
        pool.submit("a", Admission::External, false, move || {
            started.send(()).unwrap();
            blocked.recv().unwrap();
        })
        .unwrap();
        running.recv().unwrap();
        pool.submit("b", Admission::External, false, || {}).unwrap();
        pool.submit("c", Admission::External, false, || {}).unwrap();
        let busy = pool
            .submit("d", Admission::External, false, || {})
            .unwrap_err();
        assert_eq!(
            busy,
            Busy {
                queued: 2,
                threads: 1
            }
        );
        pool.submit("e", Admission::Internal, false, || {}).unwrap();
        release.send(()).unwrap();
    }

    #[test]
    fn urgent_work_interrupts_its_instance_until_it_starts() {
        let pool = RunPool::new(PoolConfig {
            threads: 1,
            queue_limit: 10,
        })
        .unwrap();
        let pool = Arc::new(pool);
        let (release, blocked) = mpsc::channel::<()>();
        let (seen, interrupted) = mpsc::channel();
        let inner = pool.clone();
        pool.submit("a", Admission::Internal, false, move || {
            blocked.recv().unwrap();
            seen.send(inner.interrupted("a")).unwrap();
        })
        .unwrap();
        assert!(!pool.interrupted("a"));
        let (done, finished) = mpsc::channel();
        pool.submit("a", Admission::Internal, true, move || {
            done.send(()).unwrap();
        })
        .unwrap();
        assert!(pool.interrupted("a"));
        assert!(!pool.interrupted("b"));
        release.send(()).unwrap();
        assert!(interrupted.recv().unwrap(), "the run saw the urgent job");
        finished.recv().unwrap();
        assert!(!pool.interrupted("a"));
    }
}
