//! Name rules: stack names, S3 bucket names, alert names. Each error names the likely mistake.

/// Why a name is invalid: the problem and how to fix it.
pub type NameError = (String, Option<String>);

/// Stack, alert and other resource names: lowercase letters, digits and `-`, 1-40 characters,
/// starting with a letter (they end up inside AWS resource names of limited length). Every
/// problem of a name is reported at once, with one suggestion that fixes them all.
pub fn check_name(what: &str, name: &str) -> Result<(), NameError> {
    let mut problems: Vec<&str> = Vec::new();
    if name.is_empty() || name.chars().count() > 40 {
        problems.push("must be 1 to 40 characters long");
    }
    if name.contains('_') {
        problems.push("contains `_` (use `-`)");
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        problems.push("contains uppercase letters");
    }
    if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        problems.push("must start with a letter");
    }
    if name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        problems.push("may contain only lowercase letters, digits and `-`");
    }
    if name.ends_with('-') || name.contains("--") {
        problems.push("must not end with `-` or contain `--`");
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err((
        format!("{what} `{name}` {}", problems.join(", ")),
        name_suggestion(name).map(|s| format!("for example `{s}`")),
    ))
}

/// A valid name close to `name`, when there is one (see [`normalize`]).
fn name_suggestion(name: &str) -> Option<String> {
    let s = normalize(name);
    (s.starts_with(|c: char| c.is_ascii_lowercase()) && s != name).then_some(s)
}

/// `name` in the shape of a name: lowercase, `-` for anything else, no leading, doubled or
/// trailing `-`, at most 40 characters. It is valid when it starts with a letter.
pub fn normalize(name: &str) -> String {
    let mut s = String::new();
    for c in name.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (s.is_empty() || s.ends_with('-'))) {
            s.push(c);
        }
    }
    let s: String = s.chars().take(40).collect();
    s.trim_end_matches('-').to_string()
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

    #[test]
    fn every_problem_of_a_name_is_reported_at_once() {
        let (message, hint) = check_name("stack name", "Bad_Name").expect_err("bad");
        assert_eq!(
            message,
            "stack name `Bad_Name` contains `_` (use `-`), contains uppercase letters"
        );
        assert_eq!(hint.as_deref(), Some("for example `bad-name`"));
        let (message, hint) = check_name("stack name", "9_Lives-").expect_err("bad");
        assert_eq!(
            message,
            "stack name `9_Lives-` contains `_` (use `-`), contains uppercase letters, must start with a letter, must not end with `-` or contain `--`"
        );
        assert_eq!(hint, None, "no valid name starts with a digit: no example");
        // The suggestion is itself valid.
        for bad in ["Heart Disease", "Bad_Name", "a--b-", "x.y"] {
            let hint = check_name("stack name", bad)
                .expect_err("bad")
                .1
                .expect("hint");
            let example = hint.split('`').nth(1).expect("an example");
            assert!(check_name("stack name", example).is_ok(), "{example}");
        }
    }
}
