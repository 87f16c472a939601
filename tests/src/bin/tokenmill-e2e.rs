//! The `tokenmill` program, built inside the test package so scenario tests can run it as a
//! real process (Cargo exposes binaries only to their own package's tests).

fn main() -> std::process::ExitCode {
    tokenmill::cli::main()
}
