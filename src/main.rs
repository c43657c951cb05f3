//! The `govgate` command: parse arguments and hand over to the library.

fn main() -> std::process::ExitCode {
    govgate::cli::main()
}
