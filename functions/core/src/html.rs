//! Text in HTML: the one escaper for every page mlinfra writes (the monitoring report, the data
//! reports, the console), safe in element content and in quoted attribute values.

/// `s` with `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_special_character_is_escaped_and_the_rest_kept() {
        assert_eq!(
            super::escape(r#"<a href="x" title='y'>Tom & Jerry é</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;Tom &amp; Jerry é&lt;/a&gt;"
        );
    }
}
