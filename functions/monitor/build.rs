//! The git revision this binary is built from (see `mlinfra-build-info`).

fn main() {
    mlinfra_build_info::emit_git_revision("../..");
}
