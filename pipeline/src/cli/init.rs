//! `tokenmill init`: the commented example pipeline to start from.

use std::path::Path;

use anyhow::Context;

use super::Exit;

/// Writes the template to `path` (or `path/tokenmill.toml` for a directory), and the shipped
/// tokenizer it names where it is missing.
///
/// # Errors
/// A file cannot be written.
pub(super) fn init(path: &Path, force: bool) -> anyhow::Result<Exit> {
    // `init DIR` (an existing directory, or a path written with a trailing slash) writes
    // DIR/tokenmill.toml.
    let names_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
    let file = if names_dir { path.join("tokenmill.toml") } else { path.to_path_buf() };
    if file.exists() && !force {
        eprintln!("error: {} exists; pass --force to overwrite it", file.display());
        return Ok(Exit::Config);
    }
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&file, template())
        .with_context(|| format!("cannot write {}", file.display()))?;
    println!("wrote {}", file.display());
    // Version 2: the template's relative paths are its directory's. Outside this repository,
    // ship the files it names and say what else to edit.
    let base = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    for (name, bytes) in SHIPPED {
        let at = base.join(name);
        if at.exists() {
            continue;
        }
        if let Some(dir) = at.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&at, bytes).with_context(|| format!("cannot write {}", at.display()))?;
        println!("wrote {} (shipped with tokenmill; the template uses it)", at.display());
    }
    let has_sample = std::fs::read_dir(base.join(SAMPLE_DIR)).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".jsonl.zst"))
    });
    if !has_sample {
        println!(
            "edit the source's `paths`: {SAMPLE_GLOB} (the repository's sample corpus) matches nothing in {}",
            base.display()
        );
    }
    println!(
        "then `tokenmill validate {0}` and `tokenmill run {0}` (relative paths in it are relative to {1}, wherever you run from)",
        file.display(),
        base.display()
    );
    Ok(Exit::Ok)
}

/// The quickstart as a version-2 file: relative paths are its own directory's.
fn template() -> String {
    crate::EXAMPLE_CONFIG.replacen(V1_LINE, "version = 2", 1).replacen(V1_NOTE, V2_NOTE, 1)
}

const V1_LINE: &str = "version = 1";
const V1_NOTE: &str = "# Relative paths are resolved against the directory you run tokenmill from.";
const V2_NOTE: &str = "# Relative paths are resolved against this file's directory (version 2).";

/// Files the template names that tokenmill carries, relative to the template's directory.
const SHIPPED: &[(&str, &[u8])] = &[
    (SHIPPED_TOKENIZER_PATH, SHIPPED_TOKENIZER.as_bytes()),
    (SHIPPED_LID_PATH, include_bytes!("../../../models/lid.176.ftz")),
];

/// fastText's language-id model the template's `language` stage reads (CC BY-SA 3.0).
const SHIPPED_LID_PATH: &str = "models/lid.176.ftz";

/// The tokenizer the template names, relative to where tokenmill runs, and its bytes.
const SHIPPED_TOKENIZER_PATH: &str = "tokenizers/tokenmill-16k.json";
const SHIPPED_TOKENIZER: &str = include_str!("../../../tokenizers/tokenmill-16k.json");
/// The template's input glob and its directory.
const SAMPLE_GLOB: &str = "data/sample/*.jsonl.zst";
const SAMPLE_DIR: &str = "data/sample";

#[cfg(test)]
mod tests {
    #[test]
    fn init_knows_the_paths_of_its_template() {
        for path in
            [super::SHIPPED_TOKENIZER_PATH, super::SAMPLE_GLOB, super::V1_LINE, super::V1_NOTE]
        {
            assert!(crate::EXAMPLE_CONFIG.contains(path), "the template no longer has {path}");
        }
        let t = super::template();
        assert!(t.contains("version = 2") && t.contains(super::V2_NOTE), "{t}");
    }
}
