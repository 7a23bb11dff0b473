//! For the Lambda binaries (feature `lambda`), links `glibc_compat.c`, which keeps them
//! loadable on the glibc 2.34 of `provided.al2023` when built on a newer host. (The git
//! revision of run records comes from the binaries' own build scripts: a commit does not
//! rebuild this crate.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "lambda")]
    glibc_compat();
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
