//! The documentation holds together: README.md is an overview of at most 300 lines, and every
//! relative link and anchor in README.md, CHANGELOG.md, ARCHITECTURE.md and docs/ resolves to a
//! file of the repository and, for `#anchor`, to a heading of that file (GitHub's anchors).

use herald_tests::workspace;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// GitHub's anchor of a heading: lowercased, punctuation dropped (not `-` or `_`), spaces to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of `text` outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// Every heading's anchor, with GitHub's `-1`, `-2` for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#').map(|h| h.trim_start_matches('#')) else { continue };
        if !heading.starts_with(' ') {
            continue;
        }
        let base = anchor(heading);
        let mut name = base.clone();
        let mut n = 1;
        while !out.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
    }
    out
}

/// The targets of `[text](target)` links in the prose of `text`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let root = workspace();
    let mut out: Vec<PathBuf> = ["README.md", "CHANGELOG.md", "ARCHITECTURE.md"].iter().map(|f| root.join(f)).collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

#[test]
fn the_readme_is_an_overview() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(readme.lines().count() <= 300, "README.md has {} lines", readme.lines().count());
    for topic in [
        "configuration",
        "providers",
        "credentials",
        "path-filters",
        "statuses",
        "alerts",
        "commands",
        "operations",
        "security",
        "performance",
        "cli",
        "deploying",
    ] {
        assert!(readme.contains(&format!("(docs/{topic}.md)")), "README.md links docs/{topic}.md");
    }
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = workspace().canonicalize().unwrap();
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap_or_else(|e| panic!("{}: {e}", document.display()));
        let dir = document.parent().unwrap();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = target.split_once('#').map_or((target.as_str(), None), |(p, f)| (p, Some(f)));
            let file: PathBuf = if path.is_empty() { document.clone() } else { dir.join(path) };
            let shown = document.canonicalize().unwrap_or_else(|_| document.clone());
            let name = format!("{}: ({target})", shown.strip_prefix(&root).unwrap_or(&shown).display());
            let Ok(resolved) = file.canonicalize() else {
                broken.push(format!("{name}: no such file"));
                continue;
            };
            if !resolved.starts_with(&root) {
                broken.push(format!("{name}: outside the repository"));
                continue;
            }
            if let Some(fragment) = fragment {
                let headings = anchors(&std::fs::read_to_string(&resolved).unwrap_or_default());
                if !headings.contains(fragment) {
                    broken.push(format!("{name}: no heading #{fragment} in {}", Path::new(&resolved).display()));
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} links found: is the reading right?");
    assert!(broken.is_empty(), "{} broken links:\n{}", broken.len(), broken.join("\n"));
}

#[test]
fn anchors_are_github_s() {
    assert_eq!(anchor("Why didn't my push start my pipeline?"), "why-didnt-my-push-start-my-pipeline");
    assert_eq!(anchor("Make Herald's checks required"), "make-heralds-checks-required");
    assert_eq!(anchor("`herald init`, `validate --strict`"), "herald-init-validate---strict");
    assert_eq!(links("see [a](b.md#c) and [d](https://e) `x`"), ["b.md#c", "https://e"]);
}
