//! `mlinfra users add|passwd|remove|list`: the console's accounts of the environment
//! ([`crate::accounts`]). A password is read from the first line of standard input, never from
//! an argument (which other users of the machine could see in the process list).

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure};
use crate::accounts::Accounts;
use crate::cli::{Global, UsersCommand};

pub fn run(g: &Global, cmd: &UsersCommand) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    let accounts = Accounts::at(&cx.root);
    match cmd {
        UsersCommand::Add { name } | UsersCommand::Passwd { name } => {
            let replace = matches!(cmd, UsersCommand::Passwd { .. });
            if replace
                && !accounts
                    .list()
                    .map_err(Failure::new)?
                    .iter()
                    .any(|a| &a.name == name)
            {
                return Err(Failure::new(format!(
                    "no account `{name}`\nhint: `mlinfra users add {name}` creates it"
                )));
            }
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map_err(|e| {
                Failure::new(format!("cannot read the password from standard input: {e}"))
            })?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Failure::new(format!(
                    "no password for `{name}` on standard input\nhint: `printf '%s\\n' \"$PASSWORD\" | mlinfra users {} {name}`",
                    if replace { "passwd" } else { "add" }
                )));
            }
            accounts
                .set(name, password, replace)
                .map_err(Failure::new)?;
            let what = if replace {
                "set a new password for"
            } else {
                "created"
            };
            cx.out.result(
                format!("{what} account `{name}` ({})\n", accounts.path().display()),
                &json!({ "account": name, "created": !replace }),
            );
        }
        UsersCommand::Remove { name } => {
            if !accounts.remove(name).map_err(Failure::new)? {
                return Err(Failure::new(format!(
                    "no account `{name}`\nhint: `mlinfra users list` shows them"
                )));
            }
            cx.out.result(
                format!("removed account `{name}`\n"),
                &json!({ "removed": name }),
            );
        }
        UsersCommand::List => {
            let list = accounts.list().map_err(Failure::new)?;
            let mut text = String::new();
            if list.is_empty() {
                text.push_str("no accounts yet: `mlinfra users add NAME` creates one\n");
            }
            for a in &list {
                let _ = writeln!(text, "{:<24} created {}", a.name, a.created);
            }
            let names: Vec<_> = list
                .iter()
                .map(|a| json!({"name": a.name, "created": a.created}))
                .collect();
            cx.out.result(text, &json!({ "accounts": names }));
        }
    }
    Ok(0)
}
