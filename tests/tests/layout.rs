//! The crate's layering (ARCHITECTURE.md "Code map"), checked from the source: the
//! `use crate::…` graph between `herald`'s top-level modules has no circle, and only the AWS
//! adapters (`shared/src/aws/`) name `aws_sdk_*`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its test code: test files, and inline `#[cfg(test)] mod tests { … }` at
/// the end of a file (tests may import freely).
fn production_text(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let inside = path.strip_prefix(root()).unwrap_or(path);
    if name == "tests.rs" || name == "fakes.rs" || inside.components().any(|c| c.as_os_str() == "tests") {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    Some(text[..end].lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n"))
}

/// Top-level modules each module imports (`crate::x` → `x`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    crate_graph(&root().join("shared/src"))
}

/// Top-level modules of the crate at `src` each module imports (`crate::x` → `x`).
fn crate_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = src.to_path_buf();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(text) = production_text(&file) else { continue };
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
        let edges = graph.entry(module.to_owned()).or_default();
        for (i, _) in text.match_indices("crate::") {
            // `$aws_crate::…` in a macro is not an import of this crate.
            if text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let name: String = text[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != module {
                edges.insert(name);
            }
        }
    }
    graph
}

fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// The files of one module folder (`shared/src/git_api/`) each file imports of its siblings
/// (`super::x::…`, `use super::x;`).
fn sibling_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    let names: Vec<String> =
        files.iter().map(|f| f.file_stem().unwrap().to_str().unwrap().to_owned()).filter(|n| n != "tests").collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(text) = production_text(file) else { continue };
        let module = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let edges = graph.entry(module.clone()).or_default();
        for name in names.iter().filter(|n| **n != module) {
            if [format!("super::{name}::"), format!("super::{name};")].iter().any(|p| text.contains(p.as_str())) {
                edges.insert(name.clone());
            }
        }
    }
    graph
}

/// No circle between files either: the CLI's commands (`cli/src`), and the files of each of
/// `herald`'s module folders (once `git_api/credentials.rs` → `github_app.rs` → `statuses.rs` →
/// `credentials.rs`, and `cli/src/explain.rs` ↔ `sign.rs`).
#[test]
fn file_imports_have_no_circle() {
    let cli = crate_graph(&root().join("cli/src"));
    assert!(cli.get("explain").is_some_and(|e| e.contains("output")), "the scan reads the CLI: {cli:?}");
    assert_eq!(find_circle(&cli), None, "a circle in the CLI's module imports");
    let git_api = sibling_graph(&root().join("shared/src/git_api"));
    assert!(git_api.get("statuses").is_some_and(|e| e.contains("credentials")), "the scan reads git_api: {git_api:?}");
    for entry in std::fs::read_dir(root().join("shared/src")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let graph = sibling_graph(&dir);
            assert_eq!(find_circle(&graph), None, "a circle between the files of {}", dir.display());
        }
    }
}

#[test]
fn module_imports_have_no_circle() {
    let graph = import_graph();
    assert!(graph.contains_key("webhook") && graph["webhook"].contains("trigger"), "the scan reads imports: {graph:?}");
    assert_eq!(find_circle(&graph), None, "a circle in herald's module imports");
    for leaf in ["ports", "change", "glob", "template", "token", "clock", "metrics"] {
        assert_eq!(graph.get(leaf).cloned().unwrap_or_default(), BTreeSet::new(), "{leaf} is a leaf");
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(find_circle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}

#[test]
fn only_the_aws_adapters_name_the_sdk() {
    let mut files = Vec::new();
    for dir in ["shared/src", "functions", "cli/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    let adapters = root().join("shared/src/aws");
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| !f.starts_with(&adapters))
        .filter(|f| production_text(f).is_some_and(|t| t.contains("aws_sdk_")))
        .collect();
    assert!(offenders.is_empty(), "aws_sdk_* outside shared/src/aws: {offenders:?}");
}
