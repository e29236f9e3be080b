//! The `rampart` binary: parses the command line and hands over to the library.

/// mimalloc instead of glibc's malloc: glibc raises its mmap threshold after freeing a large block and
/// then serves image buffers from per-thread heaps it rarely returns, so a server that had processed
/// a few uploads stayed hundreds of MiB larger than it needed to be. mimalloc returns freed memory
/// to the system within milliseconds. Measured in `bench/README.md`, "Fixes".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rampart::cli::main()
}
