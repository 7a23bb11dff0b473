//! Golden tests of stack validation: each broken stack under `tests/ui/invalid/` must produce
//! exactly the diagnostics in the `.stderr` file beside it (`MLINFRA_BLESS=1` rewrites them),
//! and every stack under the repository's `stacks/` must validate.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_golden, manifest_dir, repo_root};

#[test]
fn invalid_stacks_give_the_expected_errors() {
    let dir = manifest_dir().join("tests/ui/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 12,
        "expected at least 12 broken stacks, found {}",
        cases.len()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(&case).unwrap();
        let label = format!("tests/ui/invalid/{name}");
        let err = match mlinfra::stack::parse_str(&label, &src) {
            Ok(_) => panic!("`{name}` validated but is meant to be broken"),
            Err(e) => e,
        };
        assert!(!err.diags.is_empty(), "{name}: no diagnostics");
        assert_golden(&case.with_extension("stderr"), &err.render());
    }
}

#[test]
fn every_stack_in_the_repository_validates() {
    let dir = repo_root().join("stacks");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            if let Err(e) = mlinfra::stack::load(&p) {
                panic!("{}", e.render());
            }
            n += 1;
        }
    }
    assert!(n >= 1, "no stack files found in {}", dir.display());
}

#[test]
fn all_errors_are_reported_at_once() {
    let src =
        std::fs::read_to_string(manifest_dir().join("tests/ui/invalid/many-errors.yaml")).unwrap();
    let err = mlinfra::stack::parse_str("many-errors.yaml", &src).unwrap_err();
    assert!(
        err.diags.len() >= 6,
        "only {} errors reported: {}",
        err.diags.len(),
        err.render()
    );
}
