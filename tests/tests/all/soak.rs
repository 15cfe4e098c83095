//! The short form of the soak harness (`swirl_tests::soak`): five SIGKILLs of
//! `swirl serve` under a steady load, then the independent checker. The long
//! form is `tests/soak.sh` (RELIABILITY.md).

use std::time::{SystemTime, UNIX_EPOCH};

use swirl_tests::soak::{SoakConfig, run};

#[test]
fn five_sigkills_under_load_lose_nothing_acknowledged_and_repeat_no_completed_action() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let summary = run(&SoakConfig {
        seed,
        ..SoakConfig::default()
    });
    println!("{summary}");
    assert_eq!(summary.kills, 5, "{summary}");
    assert!(summary.acknowledged > 100, "too little load: {summary}");
    assert!(summary.violations.is_empty(), "{summary}");
}
