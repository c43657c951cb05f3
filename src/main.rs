//! The `govgate` command: parse arguments and hand over to the library.

// mimalloc: measurably faster than glibc malloc for the proxy's many small, short-lived
// allocations across worker threads (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    govgate::cli::main()
}
