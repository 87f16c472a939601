//! `tokenmill completions SHELL` and `tokenmill man`: what packagers install beside the binary.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, Exit};

/// `tokenmill completions`.
#[derive(Debug, Args)]
#[command(after_long_help = "Install, for example:
  tokenmill completions bash > ~/.local/share/bash-completion/completions/tokenmill
  tokenmill completions zsh > ~/.zfunc/_tokenmill      # with fpath+=~/.zfunc in ~/.zshrc
  tokenmill completions fish > ~/.config/fish/completions/tokenmill.fish")]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// PowerShell.
    Powershell,
    /// Elvish.
    Elvish,
}

/// `tokenmill man`.
#[derive(Debug, Args)]
#[command(after_long_help = "Install, for example:
  tokenmill man --dir ~/.local/share/man/man1 && man tokenmill-run")]
pub struct ManArgs {
    /// Write `tokenmill.1` and one page per subcommand (`tokenmill-run.1`, ...) into this
    /// directory instead of printing `tokenmill.1` to stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Writes the completion script of `args.shell` to stdout.
///
/// # Errors
/// Stdout cannot be written.
pub(super) fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    use clap_complete::Shell as S;
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::Powershell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tokenmill", &mut out);
    std::io::stdout().write_all(&out).context("cannot write to stdout")?;
    Ok(Exit::Ok)
}

/// Writes the man pages: `tokenmill.1` to stdout, or every page into a directory.
///
/// # Errors
/// Stdout or a page cannot be written.
pub(super) fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    let command = Cli::command();
    match &args.dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            std::io::stdout().write_all(&out).context("cannot write to stdout")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            println!("man pages written to {}", dir.display());
        }
    }
    Ok(Exit::Ok)
}
