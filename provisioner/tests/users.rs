//! `mlinfra users`: the console's accounts, passwords from standard input, stored hashed with
//! the environment's secrets; refusals that say what to do.

#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

#[test]
fn accounts_are_added_listed_given_new_passwords_and_removed() {
    let p = Project::new();
    p.run_stdin(&["users", "add", "alice"], "correct horse battery\n")
        .ok();
    p.run_stdin(&["users", "add", "bob"], "another long password\n")
        .ok();
    let file = p.env_dir().join("secrets/accounts.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("\"alice\"") && text.contains("$argon2id$"),
        "{text}"
    );
    assert!(
        !text.contains("correct horse"),
        "the password is not stored: {text}"
    );
    let list = p.run(&["users", "list"]);
    list.ok();
    assert!(
        list.stdout.contains("alice") && list.stdout.contains("bob"),
        "{}",
        list.stdout
    );

    let again = p.run_stdin(&["users", "add", "alice"], "yet another password\n");
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("account `alice` exists"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("mlinfra users passwd alice"),
        "{}",
        again.stderr
    );
    let short = p.run_stdin(&["users", "add", "carol"], "short\n");
    assert_eq!(short.code, 1);
    assert!(
        short.stderr.contains("expected at least 12"),
        "{}",
        short.stderr
    );
    let none = p.run(&["users", "add", "carol"]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr
            .contains("no password for `carol` on standard input"),
        "{}",
        none.stderr
    );
    let bad = p.run_stdin(&["users", "add", "Carol Smith"], "a long enough password\n");
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("account name `Carol Smith`"),
        "{}",
        bad.stderr
    );

    p.run_stdin(&["users", "passwd", "alice"], "a brand new password\n")
        .ok();
    let missing = p.run_stdin(&["users", "passwd", "dave"], "a brand new password\n");
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("mlinfra users add dave"),
        "{}",
        missing.stderr
    );
    p.run(&["users", "remove", "bob"]).ok();
    let gone = p.run(&["users", "remove", "bob"]);
    assert_eq!(gone.code, 1);
    let list = p.run(&["users", "list", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&list.raw_stdout).unwrap();
    assert_eq!(v["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(v["accounts"][0]["name"], "alice");
}
