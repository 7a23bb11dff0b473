//! Property tests of the stack parser: whatever the bytes, validation returns a stack or
//! diagnostics that point inside the file, and rendering them never panics.
//!
//! CI runs the default number of cases; a longer run: `PROPTEST_CASES=200000 cargo test -p
//! mlinfra --release --test fuzz_stack`.

#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;

fn example() -> String {
    std::fs::read_to_string(common::repo_root().join("stacks/heart-disease.yaml")).unwrap()
}

/// Validate `src` and check the invariants of the result.
fn check(src: &str) {
    match mlinfra::stack::parse_str("fuzz.yaml", src) {
        Ok(stack) => {
            // A valid stack always yields a valid resource graph.
            mlinfra::engine::graph::desired(&stack).unwrap();
        }
        Err(e) => {
            assert!(
                !e.diags.is_empty(),
                "an error without diagnostics for {src:?}"
            );
            // The diagnostics refer to the source as the error keeps it (line breaks normalised).
            let lines = e.src.lines().count().max(1);
            for d in &e.diags {
                assert!(
                    d.line >= 1 && d.line <= lines + 1,
                    "line {} outside 1..={} for {src:?}",
                    d.line,
                    lines + 1
                );
                assert!(d.column >= 1, "column 0 for {src:?}");
                assert!(!d.message.is_empty());
            }
            let text = e.render();
            assert!(text.ends_with('\n'));
            // Every diagnostic shows its source line.
            for d in &e.diags {
                if d.line <= e.src.lines().count() {
                    let shown = format!(
                        "{} | {}",
                        d.line,
                        e.src.lines().nth(d.line - 1).unwrap().trim_end()
                    );
                    assert!(
                        text.contains(&shown),
                        "line {} not shown in\n{text}",
                        d.line
                    );
                }
            }
        }
    }
}

/// Mutations of the real stack file that keep it close to valid, where parsers break.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceChar(usize, char),
    Insert(usize, String),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn apply(src: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    let n = lines.len();
    if n == 0
        && matches!(
            m,
            Mutation::DeleteLine(_) | Mutation::DuplicateLine(_) | Mutation::SwapLines(..)
        )
    {
        return src.to_string();
    }
    match m {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceChar(i, c) => {
            let mut chars: Vec<char> = src.chars().collect();
            let k = i % chars.len().max(1);
            if !chars.is_empty() {
                chars[k] = *c;
            }
            return chars.into_iter().collect();
        }
        Mutation::Insert(i, s) => {
            let mut chars: Vec<char> = src.chars().collect();
            let k = i % (chars.len() + 1);
            chars.splice(k..k, s.chars());
            return chars.into_iter().collect();
        }
        Mutation::Truncate(i) => {
            return src.chars().take(i % (src.chars().count() + 1)).collect();
        }
    }
    lines.join("\n")
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop_oneof![
        Just(": ".to_string()),
        Just("\n  - ".to_string()),
        Just("[".to_string()),
        Just("{".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!str ".to_string()),
        Just("\t".to_string()),
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("~".to_string()),
        Just("\n---\n".to_string()),
        Just("-1e309".to_string()),
        Just("18446744073709551616".to_string()),
        "[a-z_]{1,8}: [a-z0-9]{0,5}",
        "\\PC{0,6}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), any::<char>()).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        (any::<usize>(), token).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
        check(&src);
    }

    #[test]
    fn arbitrary_yaml_shapes_never_panic(src in "([a-z_]{1,10}:( [a-z0-9?*()\\[\\], \"'-]{0,20})?\n( {2,4}[a-z_-]{1,8}: [a-z0-9.\\[\\], -]{0,12}\n){0,3}){0,8}") {
        check(&format!("version: 1\n{src}"));
    }

    #[test]
    fn mutations_of_the_example_never_panic(ms in proptest::collection::vec(mutation(), 1..4)) {
        let mut src = example();
        for m in &ms {
            src = apply(&src, m);
        }
        check(&src);
    }
}
