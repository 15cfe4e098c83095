//! The lazy disk through the kernel: what a process syncs survives a cut,
//! what it only writes (or closes, or renames into place) does not.

use std::fs;
use std::io::Write;

use swirl_lazyfs::{Mounted, unavailable};

#[test]
fn a_cut_keeps_synced_data_and_drops_the_rest() {
    if let Some(reason) = unavailable() {
        println!("skipped: {reason}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (backing, mountpoint) = (dir.path().join("backing"), dir.path().join("mnt"));
    fs::create_dir(&backing).unwrap();
    fs::create_dir(&mountpoint).unwrap();
    let disk = Mounted::mount(&backing, &mountpoint).unwrap();

    let mut synced = fs::File::create(mountpoint.join("synced")).unwrap();
    synced.write_all(b"kept").unwrap();
    synced.sync_data().unwrap();
    synced.write_all(b" and lost").unwrap();
    drop(synced);
    fs::write(mountpoint.join("written"), vec![1u8; 10_000]).unwrap();
    fs::create_dir(mountpoint.join("sub")).unwrap();
    fs::write(mountpoint.join("sub/renamed.tmp"), b"never synced").unwrap();
    fs::rename(
        mountpoint.join("sub/renamed.tmp"),
        mountpoint.join("sub/renamed"),
    )
    .unwrap();
    // Before the cut, processes read what they wrote.
    assert_eq!(
        fs::read(mountpoint.join("synced")).unwrap(),
        b"kept and lost"
    );
    let read = fs::read(mountpoint.join("sub/renamed"));
    assert_eq!(read.unwrap_or_else(|e| panic!("{e:?}")), b"never synced");
    assert_eq!(disk.unsynced().files, 3);

    let (disk, dropped) = disk.cut().unwrap();
    assert_eq!(dropped.files, 3, "{dropped:?}");
    assert_eq!(fs::read(mountpoint.join("synced")).unwrap(), b"kept");
    assert_eq!(fs::read(mountpoint.join("written")).unwrap(), b"");
    assert_eq!(fs::read(mountpoint.join("sub/renamed")).unwrap(), b"");

    // A truncation is lost too, unless synced.
    let file = fs::OpenOptions::new()
        .write(true)
        .open(mountpoint.join("synced"))
        .unwrap();
    file.set_len(1).unwrap();
    drop(file);
    assert_eq!(fs::read(mountpoint.join("synced")).unwrap(), b"k");
    let (_disk, _) = disk.cut().unwrap();
    assert_eq!(fs::read(mountpoint.join("synced")).unwrap(), b"kept");
}
