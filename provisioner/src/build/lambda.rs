//! The Lambda package of a function: its binary alone, as `bootstrap` (mode 0755), in
//! `<artifacts>/<function>/bootstrap.zip`, the way the `provided.al2023` runtime runs it.

use std::io::Write as _;
use std::path::Path;

use super::{Package, write_package};

/// Zip one executable as `bootstrap`, deterministically.
pub fn zip_bootstrap(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9))
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default());
        z.start_file("bootstrap", opts)
            .map_err(std::io::Error::other)?;
        z.write_all(binary)?;
        z.finish().map_err(std::io::Error::other)?;
    }
    Ok(buf.into_inner())
}

/// Write `<out>/<function>/bootstrap.zip` from a built binary.
pub fn package(function: &str, binary: &Path, out: &Path) -> Result<Package, String> {
    let bytes = std::fs::read(binary)
        .map_err(|e| format!("cannot read the built binary `{}`: {e}", binary.display()))?;
    let zip = zip_bootstrap(&bytes).map_err(|e| format!("cannot zip `{function}`: {e}"))?;
    write_package(function, "bootstrap.zip", &zip, bytes.len(), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::code_sha256;

    #[test]
    fn zips_are_deterministic_and_hold_an_executable_bootstrap() {
        let a = zip_bootstrap(b"\x7fELF binary").expect("zip");
        let b = zip_bootstrap(b"\x7fELF binary").expect("zip");
        assert_eq!(a, b, "same binary, same zip");
        assert_eq!(code_sha256(&a), code_sha256(&b));
        assert_ne!(
            code_sha256(&a),
            code_sha256(&zip_bootstrap(b"other").expect("zip"))
        );
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(a)).expect("read back");
        assert_eq!(z.len(), 1);
        let f = z.by_index(0).expect("entry");
        assert_eq!(f.name(), "bootstrap");
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o755));
    }
}
