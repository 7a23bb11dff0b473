//! Records the git revision the crate was built from, for run records ("code version"), and
//! for the Lambda binaries (feature `lambda`) links `glibc_compat.c`, which keeps them loadable
//! on the glibc 2.34 of `provided.al2023` when built on a newer host.

fn main() {
    #[cfg(feature = "lambda")]
    glibc_compat();
    for p in [
        "../../.git/HEAD",
        "../../.git/refs/heads",
        "../../.git/packed-refs",
    ] {
        println!("cargo:rerun-if-changed={p}");
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

/// Link `glibc_compat.c` into the Lambda binaries (x86_64 Linux with glibc only).
#[cfg(feature = "lambda")]
fn glibc_compat() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
    {
        println!("cargo:rerun-if-changed=glibc_compat.c");
        cc::Build::new()
            .file("glibc_compat.c")
            .compile("mlinfra_glibc_compat");
    }
}
