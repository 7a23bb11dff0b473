//! The stack reference page (`docs/stack.md`) documents exactly the fields the schema knows.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::repo_root;

/// Field paths named in the first column of the reference page's tables.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/stack.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(f, _)| f.to_string()))
        .collect()
}

#[test]
fn every_field_is_documented_and_every_documented_field_exists() {
    let src = std::fs::read_to_string(repo_root().join("stacks/heart-disease.yaml")).unwrap();
    let known = mlinfra::stack::known_fields(&src);
    assert!(
        known.len() > 80,
        "the schema walk found only {} fields",
        known.len()
    );
    let documented = documented();
    let undocumented: Vec<_> = known.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "fields missing from docs/stack.md: {undocumented:?}"
    );
    let stale: Vec<_> = documented.difference(&known).collect();
    assert!(
        stale.is_empty(),
        "docs/stack.md documents fields the schema does not know: {stale:?}"
    );
}
