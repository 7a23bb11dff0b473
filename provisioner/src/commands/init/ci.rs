//! `mlinfra init --ci github`: the ML project's CI/CD for its stack file. A GitHub Actions
//! workflow (`.github/workflows/mlinfra.yml`) that on a pull request validates the stack, shows
//! `mlinfra diff`, trains on the branch's data without registering and posts the evaluation
//! against the Production model as the job summary, and on the main branch runs `mlinfra up`;
//! and a `.pre-commit-config.yaml` that validates the stack file before each commit. Written in
//! the working directory (the repository's root); an existing file is never overwritten.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::Failure;
use crate::output::Out;

const WORKFLOW: &str = include_str!("../../../templates/github-workflow.yml");
const PRE_COMMIT: &str = include_str!("../../../templates/pre-commit-config.yaml");

/// The files for the stack file `stack_file`: (path, text).
pub fn files(stack_file: &Path) -> Result<Vec<(PathBuf, String)>, Failure> {
    let loaded = crate::stack::load(stack_file).map_err(|e| Failure::rendered(e.render()))?;
    let stack = &loaded.stack;
    let Some(region) = &stack.environments.aws.region else {
        return Err(Failure::new(format!(
            "stack `{}` has no `environments.aws.region`: the workflow signs in to AWS in that region\nhint: add\n  environments:\n    aws:\n      region: eu-west-1",
            stack.name
        )));
    };
    let file = stack_file.to_string_lossy().replace('\\', "/");
    let fill = |t: &str| {
        t.replace("{{stack_file}}", &file)
            .replace("{{stack_file_regex}}", &regex_escape(&file))
            .replace("{{region}}", region)
            .replace("{{repository}}", env!("CARGO_PKG_REPOSITORY"))
            .replace("{{version}}", env!("CARGO_PKG_VERSION"))
    };
    Ok(vec![
        (
            PathBuf::from(".github/workflows/mlinfra.yml"),
            fill(WORKFLOW),
        ),
        (PathBuf::from(".pre-commit-config.yaml"), fill(PRE_COMMIT)),
    ])
}

fn regex_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if ".^$*+?()[]{}|\\".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Write the CI/CD files of `stack_file`, refusing to overwrite any (then none is written).
pub fn write(out: &Out, stack_file: &Path) -> Result<i32, Failure> {
    if !stack_file.is_file() {
        return Err(Failure::new(format!(
            "`{}` does not exist: `--ci` writes the CI/CD of a stack file\nhint: `mlinfra init --data FILE --label COL --ci github` writes both",
            stack_file.display()
        )));
    }
    let files = files(stack_file)?;
    if let Some((p, _)) = files.iter().find(|(p, _)| p.exists()) {
        return Err(Failure::new(format!(
            "`{}` already exists: nothing written\nhint: remove it first, or merge the jobs by hand (`mlinfra init --ci github` in an empty directory shows them)",
            p.display()
        )));
    }
    for (p, text) in &files {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("cannot create `{}`: {e}", dir.display())))?;
        }
        std::fs::write(p, text)
            .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", p.display())))?;
    }
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    out.result(
        format!(
            "wrote {}. Set the repository variable MLINFRA_AWS_ROLE to a role GitHub may assume (OIDC) for `{}`\n",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" and "),
            stack_file.display()
        ),
        &json!({ "files": names }),
    );
    Ok(0)
}
