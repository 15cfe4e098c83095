//! An engine's threads end with it. Alone in its test binary: it counts the
//! process's threads, which tests running beside it would change.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use swirl_engine::Engine;
use swirl_ports::memory::{MemoryStore, NativeInvoker};
use swirl_workflow::KnownFunctions;

const LISTENS: &str = r#"
document: { dsl: '1.0.0', namespace: test, name: listens, version: '1.0.0' }
do:
  - paid:
      listen:
        to:
          one:
            with: { type: order.paid, source: shop }
"#;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_engine_lets_go_of_its_threads() {
    let before = threads();
    for _ in 0..20 {
        let engine =
            Engine::new(Arc::new(MemoryStore::new()), Arc::new(NativeInvoker::new())).unwrap();
        engine
            .register(LISTENS, None, KnownFunctions::Unchecked)
            .unwrap();
        engine.start("listens", json!({}), None).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        threads() <= before + 2,
        "{before} threads before, {} after",
        threads()
    );
}
