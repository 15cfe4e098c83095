//! The short form of the soak harness (`swirl_tests::soak`): five SIGKILLs of
//! `swirl serve` under a steady load, then the independent checker; and five
//! power cuts (kill plus the loss of every unsynced write, on the lazy FUSE
//! disk of `swirl_lazyfs`), skipped with the reason where FUSE is missing.
//! The long forms are `tests/soak.sh [--power-cuts]` (RELIABILITY.md).
//! And the bounded-disk soak scaled down (`swirl_tests::bounded_disk`; its
//! heavy tier is the `bounded_disk` binary).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use swirl_tests::bounded_disk::DiskConfig;
use swirl_tests::soak::{SoakConfig, run};

#[test]
#[ignore = "heavy tier: cargo test -p swirl-tests --test all -- --ignored"]
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

#[test]
#[ignore = "heavy tier: cargo test -p swirl-tests --test all -- --ignored"]
fn five_power_cuts_under_load_lose_nothing_acknowledged_and_the_store_opens_each_time() {
    if let Some(reason) = swirl_lazyfs::unavailable() {
        println!("skipped: {reason}");
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let summary = run(&SoakConfig {
        seed,
        power_cuts: true,
        ..SoakConfig::default()
    });
    println!("{summary}");
    assert_eq!(summary.kills, 5, "{summary}");
    assert!(summary.acknowledged > 100, "too little load: {summary}");
    assert!(summary.violations.is_empty(), "{summary}");
}

#[test]
#[ignore = "heavy tier: cargo test -p swirl-tests --test all -- --ignored"]
fn the_data_directory_levels_off_while_retention_deletes_what_the_load_adds() {
    let summary = swirl_tests::bounded_disk::run(&DiskConfig::scaled(Duration::from_secs(45)));
    println!("{summary}");
    assert!(summary.problems.is_empty(), "{summary}");
    assert_eq!(summary.failures, 0, "{summary}");
    let last = summary.samples.last().copied().unwrap();
    assert!(last.instances > 5_000, "too little load: {summary}");
    assert!(
        last.stored_instances * 2 < last.instances + last.events,
        "retention kept too much: {summary}"
    );
    // The load went on growing over the last third; the disk did not.
    assert!(summary.load_growth() > 1.3, "{summary}");
    assert!(summary.late_growth() < 1.25, "{summary}");
}
