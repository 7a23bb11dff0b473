//! For the build scripts of mlinfra's binaries (the CLI and the four functions): the git
//! revision the binary is built from, as the compile-time variable `MLINFRA_GIT_REV`, which the
//! binary hands to `mlinfra_core::pipeline::CodeVersion::set_git_revision` for its run records.
//!
//! Only the binaries' packages watch `.git`, so a commit rebuilds those small packages and
//! nothing below them.

/// Emit `cargo:rustc-env=MLINFRA_GIT_REV=<short revision>` when `git` knows one, and rerun when
/// the checked-out commit changes. `repo` is the repository's root relative to the package.
pub fn emit_git_revision(repo: &str) {
    for p in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        println!("cargo:rerun-if-changed={repo}/{p}");
    }
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(rev) = rev {
        println!("cargo:rustc-env=MLINFRA_GIT_REV={rev}");
    }
}
