//! The `swirl` command: parses the command line, runs the command, prints the
//! error chain once, and exits 0 (success), 1 (the function or workflow
//! failed) or 2 (usage, manifest or definition errors).

mod cli;

/// Runs copy sled's tree nodes on every write; mimalloc reuses those
/// buffers where glibc's malloc maps, zeroes and unmaps them each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc commit memory as it uses it rather than a whole arena as
/// it reserves it: committed eagerly, a server stayed 60 to 90 MiB larger
/// after a burst of calls than with glibc's malloc (BENCHMARKS.md, (5)).
/// It runs from `.init_array`, before the first allocation reserves the
/// first arena.
#[used]
#[unsafe(link_section = ".init_array")]
static COMMIT_AS_USED: extern "C" fn() = {
    extern "C" fn commit_as_used() {
        /// `mi_option_arena_eager_commit`: its index in mimalloc 3's
        /// `mi_option_t`, the version `libmimalloc-sys` builds by default.
        const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
        // SAFETY: sets one of mimalloc's options to a value it documents;
        // nothing else runs yet.
        unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
    }
    commit_as_used
};

fn main() -> std::process::ExitCode {
    cli::main()
}
