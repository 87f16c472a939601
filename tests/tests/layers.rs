//! Imports go one way, in every crate of the workspace.
//!
//! The check reads the sources (no compiler involved): every `use` tree and every
//! `crate::`/`super::`/`self::` path outside `#[cfg(test)] mod tests` is an edge from the file
//! it appears in to the module it names. Three rules hold:
//!
//! 1. An import circle (a strongly connected set of files) stays inside one top-level module: a
//!    module and its own submodules may refer to each other, nothing wider may.
//! 2. Collapsed to top-level modules, every crate's graph has no circle, so an order of layers
//!    exists; for `pipeline` the order is written down below ([`PIPELINE_LAYERS`]) and an import
//!    from a lower layer to a higher one fails, as does a new module that is not placed.
//! 3. The library crates depend on none of the workspace's crates above them (only `pipeline`
//!    and `tests` know the others).
//!
//! Run `cargo test -p tokenmill-tests --test layers -- --nocapture` to print the layers found.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `pipeline`'s top-level modules from the bottom layer up; a module may import from its own
/// layer (circles are refused by rule 2) and from the layers below it.
const PIPELINE_LAYERS: &[&[&str]] = &[
    &["duration", "document", "failure", "progress", "size"],
    &["storage", "sql"],
    &["sink"],
    &["lm"],
    &["stage"],
    &["config"],
    &["source", "stats"],
    &["build"],
    &["runner"],
    &["trigger"],
    &["cli"],
];

/// The library crates: (directory, crate names of the workspace it may depend on).
const LIBRARIES: &[(&str, &[&str])] = &[
    ("filters", &[]),
    ("web", &[]),
    ("tokenize", &[]),
    ("shards", &[]),
    ("dedup", &[]),
    ("engine", &[]),
    ("report", &[]),
];

const WORKSPACE_CRATES: &[&str] = &[
    "tokenmill",
    "tokenmill-filters",
    "tokenmill-web",
    "tokenmill-tokenize",
    "tokenmill-shards",
    "tokenmill-dedup",
    "tokenmill-engine",
    "tokenmill-report",
    "tokenmill-tests",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Module path ("a::b", "" for the crate root) -> file, for every `.rs` file under `src/`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("readable source dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut mods = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src").with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts == ["main"] || parts.first().is_some_and(|p| p == "bin") {
            continue; // binaries are the top of their crate
        }
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        mods.insert(parts.join("::"), f);
    }
    mods
}

/// The source without line comments and without the unit-test module at its end.
fn code_of(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        out.push(format!("{prefix}{tree}"));
        return;
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let head = format!("{prefix}{}", &tree[..open]);
    let (mut depth, mut start) = (0usize, open + 1);
    let inner_end = close;
    for (i, b) in tree.bytes().enumerate().take(inner_end).skip(open + 1) {
        match b {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                expand(&tree[start..i], &head, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner_end {
        expand(&tree[start..inner_end], &head, out);
    }
}

/// Every module path named in `code`: `use` trees and `crate::`/`super::`/`self::` paths.
fn references(code: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("use ").map(|i| i + from) {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let end = code[i..].find(';').map_or(code.len(), |e| i + e);
        if boundary {
            let tree: String = code[i + 4..end].chars().filter(|c| !c.is_whitespace()).collect();
            expand(&tree, "", &mut refs);
        }
        from = i + 4;
    }
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            if i > 0 && ident(code[..i].chars().next_back().unwrap_or(' ')) {
                continue;
            }
            let path: String = code[i..].chars().take_while(|&c| ident(c)).collect();
            refs.push(path);
        }
    }
    refs
}

/// Re-exports at the crate root: `pub use a::b::{X, Y}` makes `crate::X` mean `a::b::X`.
fn root_aliases(lib: &str) -> BTreeMap<String, String> {
    let mut refs = Vec::new();
    for line in code_of(lib).lines().filter(|l| l.trim_start().starts_with("pub use ")) {
        let tree: String = line.trim_start()["pub use ".len()..]
            .trim_end_matches(';')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, "", &mut refs);
    }
    // The whole path: `resolve` takes its longest module prefix (the module itself for
    // `pub use a::m`, its parent for `pub use a::Item`).
    refs.into_iter()
        .filter_map(|r| {
            let r = r.trim_start_matches("crate::").trim_end_matches("::self");
            let name = r.rsplit("::").next()?;
            Some((name.to_string(), r.to_string()))
        })
        .collect()
}

/// The module a reference from `from` lands in (the longest module prefix of its path).
fn resolve(
    from: &str,
    path: &str,
    mods: &BTreeMap<String, PathBuf>,
    aliases: &BTreeMap<String, String>,
) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = Vec::new();
    match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
            if let Some(module) = segs.first().and_then(|s| aliases.get(*s)) {
                base = module.split("::").map(String::from).collect();
                segs.remove(0);
            }
        }
        Some("super") => {
            base = from.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        Some("self") => {
            base = from.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
            segs.remove(0);
        }
        _ => return None,
    }
    base.extend(segs.iter().map(|s| s.to_string()));
    (0..=base.len()).rev().map(|k| base[..k].join("::")).find(|m| mods.contains_key(m))
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn file_graph(src: &Path) -> Graph {
    let mods = modules(src);
    let aliases = mods
        .get("")
        .map(|lib| root_aliases(&std::fs::read_to_string(lib).expect("lib.rs")))
        .unwrap_or_default();
    let mut g = Graph::new();
    for (m, file) in &mods {
        let code = code_of(&std::fs::read_to_string(file).expect("readable source"));
        let edges = g.entry(m.clone()).or_default();
        for r in references(&code) {
            if let Some(t) = resolve(m, &r, &mods, &aliases).filter(|t| t != m && !t.is_empty()) {
                edges.insert(t);
            }
        }
    }
    g
}

/// Strongly connected components with more than one member (Tarjan).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in s.g.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let lw = s.low[w.as_str()];
                s.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if s.stack.contains(&w.as_str()) {
                let iw = s.index[w.as_str()];
                s.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let at = s.stack.iter().rposition(|&x| x == v).unwrap_or(0);
            let comp: Vec<String> = s.stack.split_off(at).into_iter().map(String::from).collect();
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

fn collapsed(g: &Graph) -> Graph {
    let mut c = Graph::new();
    for (a, targets) in g {
        let entry = c.entry(top(a).to_string()).or_default();
        entry.extend(targets.iter().map(|t| top(t).to_string()).filter(|t| t != top(a)));
    }
    c
}

/// The violations of rules 1 and 2 in one crate, and its top-level graph.
fn check_crate(dir: &str) -> (Vec<String>, Graph) {
    let g = file_graph(&workspace().join(dir).join("src"));
    let mut errors = Vec::new();
    for comp in circles(&g) {
        if comp.iter().map(|m| top(m)).collect::<BTreeSet<_>>().len() > 1 {
            errors.push(format!("{dir}: import circle across modules: {}", comp.join(" -> ")));
        }
    }
    let c = collapsed(&g);
    for comp in circles(&c) {
        errors.push(format!(
            "{dir}: top-level modules import each other in a circle: {}",
            comp.join(", ")
        ));
    }
    (errors, c)
}

#[test]
fn imports_go_one_way_in_every_crate() {
    let mut errors = Vec::new();
    for dir in ["pipeline", "filters", "web", "tokenize", "shards", "dedup", "engine"] {
        let (errs, c) = check_crate(dir);
        errors.extend(errs);
        let edges: usize = c.values().map(BTreeSet::len).sum();
        println!(
            "{dir}: {} top-level modules, {edges} edges between them, no circle across modules",
            c.len()
        );
        if dir == "pipeline" {
            errors.extend(check_layers(&c));
        }
    }
    assert!(errors.is_empty(), "imports that do not go one way:\n{}", errors.join("\n"));
}

fn check_layers(c: &Graph) -> Vec<String> {
    let layer = |m: &str| PIPELINE_LAYERS.iter().position(|l| l.contains(&m));
    let mut errors = Vec::new();
    for (a, targets) in c.iter().filter(|(a, _)| !a.is_empty()) {
        let Some(la) = layer(a) else {
            errors.push(format!("pipeline: module `{a}` has no place in PIPELINE_LAYERS (tests/tests/layers.rs): add it"));
            continue;
        };
        for t in targets {
            match layer(t) {
                Some(lt) if lt > la => errors.push(format!(
                    "pipeline: `{a}` (layer {la}) imports `{t}` (layer {lt}), a layer above it"
                )),
                _ => {}
            }
        }
    }
    for (i, l) in PIPELINE_LAYERS.iter().enumerate() {
        println!("pipeline layer {i}: {}", l.join(", "));
    }
    errors
}

#[test]
fn libraries_depend_on_nothing_above_them() {
    for (dir, allowed) in LIBRARIES {
        let manifest =
            std::fs::read_to_string(workspace().join(dir).join("Cargo.toml")).expect("manifest");
        // Test-only dependencies (`[dev-dependencies]`, e.g. real pages through the HTML
        // extractor in a filter's tests) link nothing into the library itself.
        let mut in_dev = false;
        for line in manifest.lines() {
            if line.trim_start().starts_with('[') {
                in_dev = line.trim().starts_with("[dev-dependencies");
            }
            let name = line.split('=').next().unwrap_or("").trim();
            if !in_dev && WORKSPACE_CRATES.contains(&name) && !allowed.contains(&name) {
                panic!(
                    "{dir}/Cargo.toml depends on `{name}`: the library crates sit below the pipeline and beside each other"
                );
            }
        }
    }
}

#[test]
fn the_check_sees_circles_and_upward_imports() {
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b::x".into());
    g.entry("b::x".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("c::d".into());
    g.entry("c::d".into()).or_default().insert("c".into());
    let found = circles(&g);
    assert_eq!(found.len(), 2);
    assert_eq!(
        circles(&collapsed(&g)).len(),
        1,
        "a <-> b is a circle; c and its submodule are not"
    );
    let mut up = Graph::new();
    up.entry("storage".into()).or_default().insert("cli".into());
    assert_eq!(check_layers(&up).len(), 1);
    let mut refs = Vec::new();
    expand("crate::a::{b,c::{d,e}}", "", &mut refs);
    assert_eq!(refs, ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]);
    assert!(
        references("let x = crate::storage::open(y); use super::z;")
            .contains(&"crate::storage::open".to_string())
    );
}
