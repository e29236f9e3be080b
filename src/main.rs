//! The `rampart` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    return_large_blocks_to_the_system();
    rampart::cli::main()
}

/// glibc serves allocations above its mmap threshold with their own mappings and unmaps them on free,
/// but it raises that threshold to the size of every such block freed (up to 32 MiB). After a few
/// image uploads, decoded pixels and encoder buffers come from per-thread heaps that are rarely given
/// back: a server that had handled twenty 10 MiB uploads stayed at 310 MiB. Setting the threshold
/// explicitly turns the adjustment off, so buffers of 256 KiB and more go back to the system when
/// freed (peak 129 MiB, then 48 MiB, for the same uploads; `bench/README.md`, "Fixes").
/// `MALLOC_MMAP_THRESHOLD_` in the environment still overrides this.
fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only changes allocator tunables; it is called before any other thread
        // exists, and a refused value (return 0) leaves glibc's defaults in place.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}
