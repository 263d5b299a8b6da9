//! The README's file tree must list exactly the files under `src/`, so it cannot go stale.

use std::collections::BTreeSet;
use std::path::Path;

/// Paths of the `src/` entries in the README's "## Layout" code block, rebuilt from the
/// indentation (two spaces per level).
fn readme_src_files(readme: &str) -> BTreeSet<String> {
    let layout = readme
        .split("\n## Layout")
        .nth(1)
        .expect("README has a '## Layout' section");
    let block = layout
        .split("```")
        .nth(1)
        .expect("the Layout section has a code block");
    let mut stack: Vec<String> = Vec::new();
    let mut files = BTreeSet::new();
    for line in block.lines().skip(1) {
        let name = line.trim_start();
        let Some(entry) = name.split_whitespace().next() else {
            continue;
        };
        let depth = (line.len() - name.len()) / 2;
        stack.truncate(depth);
        if let Some(dir) = entry.strip_suffix('/') {
            stack.push(dir.to_string());
        } else if entry.ends_with(".rs") && stack.first().map(String::as_str) == Some("src") {
            files.insert(format!("{}/{}", stack.join("/"), entry));
        }
    }
    files
}

fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).expect("read src/") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            walk(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).expect("under the crate root");
            out.insert(rel.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn readme_tree_matches_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let listed = readme_src_files(&readme);
    let mut actual = BTreeSet::new();
    walk(&root.join("src"), root, &mut actual);
    let missing: Vec<_> = actual.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README layout out of date: not listed {missing:?}, listed but gone {stale:?}"
    );
}
