//! The `tokenmill` command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tokenmill::cli::Cli::parse();
    tokenmill::cli::init_logging(&cli.global);
    match tokenmill::cli::execute(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            tokenmill::cli::Exit::Failed.into()
        }
    }
}
