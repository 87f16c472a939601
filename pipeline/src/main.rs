//! The `tokenmill` command.

fn main() -> std::process::ExitCode {
    tokenmill::cli::main()
}
