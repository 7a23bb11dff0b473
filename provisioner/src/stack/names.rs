//! Name rules: stack names, S3 bucket names, alert names. Each error names the likely mistake.

/// Why a name is invalid: the problem and how to fix it.
pub type NameError = (String, Option<String>);

/// Stack, alert and other resource names: lowercase letters, digits and `-`, 1-40 characters,
/// starting with a letter (they end up inside AWS resource names of limited length).
pub fn check_name(what: &str, name: &str) -> Result<(), NameError> {
    let suggestion = || {
        let s: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Some(format!("for example `{}`", s.trim_matches('-')))
    };
    if name.is_empty() || name.len() > 40 {
        return Err((
            format!("{what} `{name}` must be 1 to 40 characters long"),
            None,
        ));
    }
    if name.contains('_') {
        return Err((
            format!("{what} `{name}` contains `_`"),
            Some("use `-`, not `_`".into()),
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err((
            format!("{what} `{name}` contains uppercase letters"),
            suggestion(),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err((
            format!("{what} `{name}` must start with a lowercase letter"),
            suggestion(),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err((
            format!("{what} `{name}` may contain only lowercase letters, digits and `-`"),
            suggestion(),
        ));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err((
            format!("{what} `{name}` must not end with `-` or contain `--`"),
            suggestion(),
        ));
    }
    Ok(())
}

/// S3 general purpose bucket naming rules.
pub fn check_bucket(name: &str) -> Result<(), NameError> {
    let lower_hint = || {
        Some(format!(
            "for example `{}`",
            name.to_ascii_lowercase().replace('_', "-")
        ))
    };
    if name.len() < 3 || name.len() > 63 {
        return Err((
            format!(
                "bucket name `{name}` must be 3 to 63 characters long, it has {}",
                name.len()
            ),
            None,
        ));
    }
    if name.contains('_') {
        return Err((
            format!("bucket name `{name}` contains `_`"),
            Some("use `-`, not `_`".into()),
        ));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err((
            format!("bucket name `{name}` contains uppercase letters"),
            lower_hint(),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err((
            format!("bucket name `{name}` may contain only lowercase letters, digits, `-` and `.`"),
            None,
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err((
            format!("bucket name `{name}` must begin and end with a letter or digit"),
            None,
        ));
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err((
            format!("bucket name `{name}` must not contain `..`, `.-` or `-.`"),
            None,
        ));
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err((
            format!("bucket name `{name}` must not look like an IP address"),
            None,
        ));
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err((
                format!("bucket name `{name}` must not start with `{prefix}`"),
                None,
            ));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err((
                format!("bucket name `{name}` must not end with `{suffix}`"),
                None,
            ));
        }
    }
    if name.contains('.') {
        return Err((
            format!("bucket name `{name}` contains `.`"),
            Some("dots break TLS for virtual-hosted requests; use `-`".into()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_rules() {
        assert!(check_bucket("mlinfra-heart-disease-lake").is_ok());
        for bad in [
            "ab",
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_bucket("my_lake").expect_err("_").1.as_deref(),
            Some("use `-`, not `_`")
        );
    }

    #[test]
    fn name_rules() {
        assert!(check_name("stack name", "heart-disease").is_ok());
        for bad in [
            "",
            "Heart",
            "1heart",
            "heart_disease",
            "heart-",
            "a--b",
            "héart",
        ] {
            assert!(check_name("stack name", bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_name("stack name", "Heart Disease")
                .expect_err("upper")
                .1
                .as_deref(),
            Some("for example `heart-disease`")
        );
    }
}
