//! What browsers send: `application/x-www-form-urlencoded` forms and query strings (a field may
//! repeat), and `multipart/form-data` uploads.

use mlinfra_core::urlencoding;

/// The fields of an urlencoded form or query string, in order (repeated names kept).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn parse(text: &str) -> Form {
        Form(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (urlencoding::decode(k), urlencoding::decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, PartialEq)]
pub struct Part<'a> {
    pub name: String,
    pub filename: Option<String>,
    pub body: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_string())
    })
}

/// The parts of a `multipart/form-data` body, or what is wrong with it.
pub fn multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, String> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    let start = find(rest, d).ok_or("the upload has no part")?;
    rest = &rest[start + d.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a part does not start a line")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part has no headers' end")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        rest = &rest[head_end + 4..];
        let mut next = Vec::with_capacity(d.len() + 2);
        next.extend_from_slice(b"\r\n");
        next.extend_from_slice(d);
        let end = find(rest, &next).ok_or("a part has no end")?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or_default();
        let param = |key: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == key).then(|| v.trim_matches('"').to_string())
            })
        };
        parts.push(Part {
            name: param("name").unwrap_or_default(),
            filename: param("filename"),
            body: &rest[..end],
        });
        rest = &rest[end + next.len()..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forms_decode_and_keep_repeated_fields() {
        let f = Form::parse("run=a&run=b%20c&comment=ok+then&x=%zz&bad=%4&u=%é1");
        assert_eq!(f.all("run"), ["a", "b c"]);
        assert_eq!(f.get("comment"), Some("ok then"));
        assert_eq!(f.get("x"), Some("%zz"));
        assert_eq!(f.get("bad"), Some("%4"));
        assert_eq!(f.get("u"), Some("%é1"));
        assert_eq!(
            Form::parse(&format!("v={}", urlencoding::encode("a b&é"))).get("v"),
            Some("a b&é")
        );
    }

    #[test]
    fn multipart_bodies_give_their_parts() {
        let ct = "multipart/form-data; boundary=----X1";
        let b = boundary(ct).unwrap();
        let body = b"------X1\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n------X1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\nage,sex\r\n63,1\r\n\r\n------X1--\r\n";
        let parts = multipart(body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].body, b"abc");
        assert_eq!(parts[1].filename.as_deref(), Some("a.csv"));
        assert_eq!(parts[1].body, b"age,sex\r\n63,1\r\n");
        assert!(multipart(b"------X1\r\nno end", &b).is_err());
        assert_eq!(boundary("application/json"), None);
    }
}
