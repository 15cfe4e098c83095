//! `swirl-lazyfs BACKING MOUNTPOINT`: mounts the lazy disk by hand, for
//! experiments. Reads commands on stdin: `cut` (drop every unsynced write
//! and mount again), `unsynced` (what a cut would drop now); end of input
//! unmounts, which is a cut too.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [backing, mountpoint] = args.as_slice() else {
        eprintln!("usage: swirl-lazyfs BACKING MOUNTPOINT");
        return ExitCode::from(2);
    };
    let mut disk = match swirl_lazyfs::Mounted::mount(backing, mountpoint) {
        Ok(disk) => disk,
        Err(error) => {
            eprintln!(
                "swirl-lazyfs: cannot mount {}: {error}",
                mountpoint.display()
            );
            return ExitCode::FAILURE;
        }
    };
    println!("mounted");
    for line in std::io::stdin().lock().lines() {
        match line.as_deref().map(str::trim) {
            Ok("cut") => match disk.cut() {
                Ok((mounted, dropped)) => {
                    disk = mounted;
                    println!(
                        "cut: dropped {} bytes in {} files",
                        dropped.bytes, dropped.files
                    );
                }
                Err(error) => {
                    eprintln!("swirl-lazyfs: the cut failed: {error}");
                    return ExitCode::FAILURE;
                }
            },
            Ok("unsynced") => {
                let unsynced = disk.unsynced();
                println!(
                    "unsynced: {} bytes in {} files",
                    unsynced.bytes, unsynced.files
                );
            }
            Ok(other) => eprintln!("swirl-lazyfs: unknown command '{other}' (cut, unsynced)"),
            Err(_) => break,
        }
    }
    ExitCode::SUCCESS
}
