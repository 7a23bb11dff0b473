//! `mlinfra users add|passwd|remove|list|token`: the accounts of the environment
//! ([`crate::accounts`]), with which people sign in to the console and programs call the MLflow
//! API. A password is read from the first line of standard input, never from an argument
//! (which other users of the machine could see in the process list).

use std::fmt::Write as _;

use serde_json::json;

use super::{Context, Failure};
use crate::accounts::Accounts;
use crate::cli::{Global, TokenCommand, UsersCommand};

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
        UsersCommand::Token(TokenCommand::Create { name }) => {
            let (token, t) = accounts.create_token(name).map_err(Failure::new)?;
            cx.out.result(
                format!(
                    "{token}\ncreated token `{}` for `{name}`: it is shown this once; programs send it as `Authorization: Bearer` (MLflow's client: MLFLOW_TRACKING_TOKEN); `mlinfra users token revoke {}` ends it\n",
                    t.id, t.id
                ),
                &json!({ "token": token, "id": t.id, "account": name, "created": t.created }),
            );
        }
        UsersCommand::Token(TokenCommand::List { name }) => {
            let list = accounts.tokens(name.as_deref()).map_err(Failure::new)?;
            let mut text = String::new();
            if list.is_empty() {
                text.push_str("no tokens: `mlinfra users token create NAME` creates one\n");
            }
            for t in &list {
                let _ = writeln!(text, "{:<24} {:<24} created {}", t.id, t.account, t.created);
            }
            let rows: Vec<_> = list
                .iter()
                .map(|t| json!({"id": t.id, "account": t.account, "created": t.created}))
                .collect();
            cx.out.result(text, &json!({ "tokens": rows }));
        }
        UsersCommand::Token(TokenCommand::Revoke { id }) => {
            let Some(account) = accounts.revoke_token(id).map_err(Failure::new)? else {
                return Err(Failure::new(format!(
                    "no token `{id}`\nhint: `mlinfra users token list` shows them"
                )));
            };
            cx.out.result(
                format!("revoked token `{id}` of `{account}`\n"),
                &json!({ "revoked": id, "account": account }),
            );
        }
    }
    Ok(0)
}
