//! The engine's clock schedules (1.0 `every` and `after`) on its in-memory
//! ports, each engine in a runtime of its own that goes as a process
//! would. A test binary of their own, so that the runtimes and engines they
//! start and stop leave `in_memory.rs`'s count of threads alone.

use std::sync::Arc;
use std::time::Duration;

use swirl_engine::Engine;
use swirl_engine::record::Status;
use swirl_ports::memory::{MemoryStore, NativeInvoker};
use swirl_workflow::KnownFunctions;

fn engine(store: &MemoryStore, definitions: &[&str]) -> Engine {
    let engine = Engine::new(Arc::new(store.clone()), Arc::new(NativeInvoker::new())).unwrap();
    for text in definitions {
        engine
            .register(text, None, KnownFunctions::Unchecked)
            .unwrap_or_else(|d| panic!("{d}\n{text}"));
    }
    engine
}

const TICKS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: ticks, version: '1.0.0' }
schedule:
  every: { milliseconds: 200 }
do:
  - tick:
      set:
        ticked: true
"#;

/// The ticks of `workflow`'s scheduled instances, in order.
fn ticks(engine: &Engine, workflow: &str) -> Vec<u64> {
    let prefix = format!("sched-{workflow}-");
    let mut ticks: Vec<u64> = engine
        .list(Some(workflow), None)
        .unwrap()
        .iter()
        .map(|r| r.id.strip_prefix(&prefix).unwrap().parse().unwrap())
        .collect();
    ticks.sort();
    ticks
}

/// Runs `definition`'s schedule on an engine over `store`, in a runtime of
/// its own that goes (as a process would) once `store` holds `count`
/// instances of `workflow`.
fn run_schedule_until(store: &MemoryStore, definition: &str, workflow: &str, count: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = engine(store, &[definition]);
        engine.recover().unwrap();
        engine.start_schedules();
        for _ in 0..200 {
            if ticks(&engine, workflow).len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{workflow} did not start {count} instances");
    });
}

/// `every` starts an instance at each multiple of its period; an engine
/// back after missing ticks starts the latest one it missed at once, and
/// neither the others nor one it started already.
#[test]
fn a_schedule_every_catches_up_with_the_latest_tick_after_a_restart() {
    let store = MemoryStore::new();
    run_schedule_until(&store, TICKS, "ticks", 2);
    let before = ticks(&engine(&store, &[]), "ticks");
    assert!(before.iter().all(|t| t % 200 == 0), "{before:?}");
    assert!(before.windows(2).all(|w| w[1] - w[0] == 200), "{before:?}");
    let last = *before.last().unwrap();
    // Down across two ticks.
    let back = last + 2 * 200 + 50;
    std::thread::sleep(Duration::from_millis(
        back.saturating_sub(swirl_core::time::now_ms()),
    ));
    run_schedule_until(&store, TICKS, "ticks", before.len() + 1);
    let after = ticks(&engine(&store, &[]), "ticks");
    let caught_up = after[before.len()];
    assert!(
        caught_up >= last + 400 && caught_up <= swirl_core::time::now_ms(),
        "not the latest missed tick: {after:?}"
    );
    assert!(!after.contains(&(last + 200)), "{after:?}");
}

const NAPS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: naps, version: '1.0.0' }
schedule:
  after: { milliseconds: 150 }
do:
  - nap:
      wait: { milliseconds: 100 }
"#;

/// `after` starts an instance at once, then each one that long after the
/// previous one ended.
#[test]
fn a_schedule_after_waits_for_the_previous_instance_to_end() {
    let store = MemoryStore::new();
    run_schedule_until(&store, NAPS, "naps", 3);
    let engine = engine(&store, &[NAPS]);
    let mut records = engine.list(Some("naps"), None).unwrap();
    records.sort_by_key(|r| r.id.clone());
    for pair in records.windows(2) {
        let ended = pair[0].updated_ms;
        let next: u64 = pair[1].id.rsplit('-').next().unwrap().parse().unwrap();
        assert!(
            pair[0].status == Status::Completed && next >= ended + 150,
            "{} ended at {ended}, {} started at {next}",
            pair[0].id,
            pair[1].id
        );
    }
}
