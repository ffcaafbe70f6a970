//! The documentation stays navigable: every relative link in README.md, CHANGELOG.md and
//! docs/**/*.md points at a file that exists (and, for `#anchor` into a markdown file, at one of
//! its headings), and every repository path named in backticks (`crates/…`, `docs/…`, `.ci/…`)
//! exists. README.md and docs/ARCHITECTURE.md stay under their size budgets. No network.
//!
//! Markdown is parsed with pulldown-cmark (a CommonMark parser, the one rustdoc and mdBook use)
//! so that links and code spans are found as a renderer finds them: text inside fenced code
//! blocks is neither, and reference-style links resolve to their targets.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

const README_MAX_BYTES: u64 = 15_000;
const ARCHITECTURE_MAX_BYTES: u64 = 12_000;
/// Backticked text starting with one of these is taken as a repository path.
const REPO_PATH_PREFIXES: [&str; 3] = ["crates/", "docs/", ".ci/"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// README.md, CHANGELOG.md and every markdown file under docs/, relative to the root, sorted.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("CHANGELOG.md")];
    let mut dirs = vec![PathBuf::from("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(root.join(&dir)).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let entry = entry.expect("directory entry");
            let rel = dir.join(entry.file_name());
            if entry.file_type().expect("file type").is_dir() {
                dirs.push(rel);
            } else if rel.extension().is_some_and(|e| e == "md") {
                files.push(rel);
            }
        }
    }
    files.sort();
    files
}

/// GitHub's heading anchor: lower case, letters, digits, `-` and `_` kept, spaces to `-`, the
/// rest dropped; a repeated anchor gets `-1`, `-2`, … appended.
fn github_anchor(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[derive(Default)]
struct Doc {
    anchors: BTreeSet<String>,
    /// Link destinations, with the line they are on.
    links: Vec<(usize, String)>,
    /// Backticked repository paths, with the line they are on.
    paths: Vec<(usize, String)>,
}

fn parse(text: &str) -> Doc {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut doc = Doc::default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut heading: Option<String> = None;
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_HEADING_ATTRIBUTES);
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                if let Some(id) = id {
                    doc.anchors.insert(id.to_string());
                }
                heading = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => {
                let base = github_anchor(&heading.take().unwrap_or_default());
                let n = seen.entry(base.clone()).or_insert(0);
                doc.anchors.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
                *n += 1;
            }
            Event::Text(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Code(code) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&code);
                }
                if let Some(path) = repo_path(&code) {
                    doc.paths.push((line_of(range.start), path));
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => doc.links.push((line_of(range.start), dest_url.to_string())),
            _ => {}
        }
    }
    doc
}

/// The repository path a code span names, if it looks like one: `crates/server/src/app.rs`,
/// `docs/guides/`, `.ci/run`. Globs and placeholders (`crates/*/src`, `docs/{x}.md`) are not paths;
/// a trailing `:line` is dropped.
fn repo_path(code: &str) -> Option<String> {
    let code = code.trim();
    if !REPO_PATH_PREFIXES.iter().any(|p| code.starts_with(p)) {
        return None;
    }
    if code.contains(['*', '{', '<', '…', ' ']) {
        return None;
    }
    let path = match code.rsplit_once(':') {
        Some((path, line)) if line.chars().all(|c| c.is_ascii_digit()) => path,
        _ => code,
    };
    Some(path.to_string())
}

/// `base/../x/./y` → `x/y`, refusing to climb out of the repository.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn is_external(dest: &str) -> bool {
    dest.contains("://") || dest.starts_with("mailto:")
}

fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(Ok(b)) = s.get(i + 1..i + 3).map(|hex| u8::from_str_radix(hex, 16)) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every broken link or path in the given documents, as `file:line: problem`.
fn problems(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let docs: BTreeMap<PathBuf, Doc> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f.clone(), parse(&text))
        })
        .collect();
    let anchors_of = |path: &Path| -> Option<BTreeSet<String>> {
        if let Some(doc) = docs.get(path) {
            return Some(doc.anchors.clone());
        }
        std::fs::read_to_string(root.join(path)).ok().map(|text| parse(&text).anchors)
    };
    let mut out = Vec::new();
    for (file, doc) in &docs {
        let dir = file.parent().unwrap_or(Path::new(""));
        for (line, dest) in &doc.links {
            if is_external(dest) {
                continue;
            }
            let (target, anchor) = match dest.split_once('#') {
                Some((t, a)) => (t, Some(a)),
                None => (dest.as_str(), None),
            };
            let target_path = if target.is_empty() { Some(file.clone()) } else { normalise(&dir.join(percent_decoded(target))) };
            let Some(target_path) = target_path else {
                out.push(format!("{}:{line}: link {dest} leaves the repository", file.display()));
                continue;
            };
            if !root.join(&target_path).exists() {
                out.push(format!("{}:{line}: link {dest}: {} does not exist", file.display(), target_path.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|a| !a.is_empty()) {
                if target_path.extension().is_some_and(|e| e == "md") {
                    let anchors = anchors_of(&target_path).unwrap_or_default();
                    if !anchors.contains(&percent_decoded(anchor)) {
                        out.push(format!("{}:{line}: link {dest}: no heading #{anchor} in {}", file.display(), target_path.display()));
                    }
                }
            }
        }
        for (line, path) in &doc.paths {
            if !root.join(path).exists() {
                out.push(format!("{}:{line}: `{path}` does not exist in the repository", file.display()));
            }
        }
    }
    out
}

#[test]
fn every_relative_link_and_repository_path_in_the_docs_resolves() {
    let root = repo_root();
    let files = doc_files(&root);
    assert!(files.len() > 3, "found the docs: {files:?}");
    let problems = problems(&root, &files);
    assert!(problems.is_empty(), "{} broken links or paths:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn readme_and_architecture_stay_within_their_size_budgets() {
    let root = repo_root();
    for (file, max) in [("README.md", README_MAX_BYTES), ("docs/ARCHITECTURE.md", ARCHITECTURE_MAX_BYTES)] {
        let size = std::fs::metadata(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")).len();
        assert!(size < max, "{file} is {size} bytes; keep it under {max}");
    }
}

#[test]
fn the_checker_finds_broken_links_anchors_and_paths() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path();
    std::fs::create_dir_all(root.join("docs/guides")).unwrap();
    std::fs::create_dir_all(root.join("crates/x/src")).unwrap();
    std::fs::write(root.join("crates/x/src/lib.rs"), "").unwrap();
    std::fs::write(
        root.join("docs/a.md"),
        "# Title\n\n## The `GET /groups` list (subset)\n\n## Title\n\nSee [b](guides/b.md#usage), [dup](#title-1), \
         [self](#the-get-groups-list-subset), [web](https://example.com/x.md), `crates/x/src/lib.rs:3`, `crates/*/src`.\n\n\
         ```sh\n[not a link](missing.md) `crates/not/checked`\n```\n",
    )
    .unwrap();
    std::fs::write(root.join("docs/guides/b.md"), "# B\n\n## Usage\n\n[back](../a.md#title)\n").unwrap();
    let clean = [PathBuf::from("docs/a.md"), PathBuf::from("docs/guides/b.md")];
    assert_eq!(problems(root, &clean), Vec::<String>::new(), "a clean tree has no problems");

    std::fs::write(
        root.join("docs/guides/c.md"),
        "# C\n\n[gone](../missing.md) [bad anchor](../a.md#nope) [out](../../../etc/passwd) `crates/x/src/gone.rs` `.ci/run`\n",
    )
    .unwrap();
    let found = problems(root, &[PathBuf::from("docs/guides/c.md")]);
    assert_eq!(found.len(), 5, "every broken reference is reported: {found:#?}");
    assert!(found[0].contains("docs/missing.md does not exist"), "{found:#?}");
    assert!(found[1].contains("no heading #nope"), "{found:#?}");
    assert!(found[2].contains("leaves the repository"), "{found:#?}");
    assert!(found[3].contains("`crates/x/src/gone.rs` does not exist"), "{found:#?}");
    assert!(found[4].contains("`.ci/run` does not exist"), "{found:#?}");
}

#[test]
fn anchors_follow_github() {
    assert_eq!(github_anchor("SCIM 2.0"), "scim-20");
    assert_eq!(github_anchor("Microsoft Graph (subset)"), "microsoft-graph-subset");
    assert_eq!(github_anchor("`GET /admin/groups` (GetGroupsAsAdmin)"), "get-admingroups-getgroupsasadmin");
    assert_eq!(github_anchor("pbi-bench: reads, bare-axum baseline, writes"), "pbi-bench-reads-bare-axum-baseline-writes");
}
