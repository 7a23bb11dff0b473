//! MLflow's search filter syntax, for the fields this server searches: clauses joined by `AND`,
//! each `<key> <comparator> <value>`, where a key is `metrics.<name>`, `params.<name>`,
//! `tags.<name>` or an attribute (`attributes.status`, or bare `name`, `run_id`, ...), a name
//! may be quoted with backticks or double quotes, and a value is a number or a string in single
//! or double quotes (a list of them for `IN`). Anything else is an error that says where and
//! what was expected: the filter is parsed, never pasted into a query.

use super::TrackingError;

/// What a clause compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub key: Key,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Quoted(String),
    Number(f64),
    Op(String),
    Open,
    Close,
    Comma,
}

fn err(filter: &str, why: String) -> TrackingError {
    TrackingError::invalid(format!("Invalid filter '{filter}': {why}"))
}

fn tokens(filter: &str) -> Result<Vec<Token>, TrackingError> {
    let chars: Vec<char> = filter.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' || c == '`' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(err(
                            filter,
                            format!("the quote {c} opened here is never closed"),
                        ));
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&x) => s.push(x),
                }
                i += 1;
            }
            // A backtick quotes a name; quotes quote a value (or a name after a prefix).
            out.push(if c == '`' {
                Token::Ident(s)
            } else {
                Token::Quoted(s)
            });
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if "=!<>".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if ["!=", "<=", ">="].contains(&two.as_str()) {
                two
            } else if c == '!' {
                return Err(err(filter, "`!` must be followed by `=`".into()));
            } else {
                c.to_string()
            };
            i += op.len();
            out.push(Token::Op(op));
        } else if c.is_ascii_digit() || ((c == '-' || c == '.') && i + 1 < chars.len()) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ".+-".contains(chars[i]))
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s
                .parse()
                .map_err(|_| err(filter, format!("`{s}` is not a number")))?;
            out.push(Token::Number(n));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.-:/".contains(chars[i])) {
                // A prefix's dot followed by a quoted name: `tags."a b"`.
                if chars[i] == '.' && matches!(chars.get(i + 1), Some('`' | '"' | '\'')) {
                    i += 1;
                    break;
                }
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Token::Ident(s));
        } else {
            return Err(err(filter, format!("unexpected character `{c}`")));
        }
    }
    Ok(out)
}

/// Parse a filter into its clauses (none for an empty filter). `attributes` are the attribute
/// names the caller searches; others are refused.
pub fn parse(filter: &str, attributes: &[&str]) -> Result<Vec<Clause>, TrackingError> {
    let toks = tokens(filter)?;
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !clauses.is_empty() {
            match &toks[i] {
                Token::Ident(w) if w.eq_ignore_ascii_case("and") => i += 1,
                Token::Ident(w) if w.eq_ignore_ascii_case("or") => {
                    return Err(err(
                        filter,
                        "`OR` is not supported: clauses are joined by `AND` (as in MLflow); run one search per alternative".into(),
                    ));
                }
                t => {
                    return Err(err(
                        filter,
                        format!("expected `AND` between clauses, found {}", shown(t)),
                    ));
                }
            }
        }
        // The key: an identifier, maybe `prefix.` followed by a quoted name.
        let key = match toks.get(i) {
            Some(Token::Ident(s)) => {
                i += 1;
                let s = s.clone();
                if s.ends_with('.')
                    && let Some(Token::Quoted(name) | Token::Ident(name)) = toks.get(i)
                {
                    i += 1;
                    format!("{s}{name}")
                } else {
                    s
                }
            }
            Some(t) => {
                return Err(err(
                    filter,
                    format!(
                        "expected a key such as `metrics.rmse` or `params.alpha`, found {}",
                        shown(t)
                    ),
                ));
            }
            None => return Err(err(filter, "expected a clause after `AND`".into())),
        };
        let key = classify(filter, &key, attributes)?;
        let op = match toks.get(i) {
            Some(Token::Op(o)) => {
                i += 1;
                match o.as_str() {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    _ => Op::Ge,
                }
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("like") => {
                i += 1;
                Op::Like
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("ilike") => {
                i += 1;
                Op::ILike
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("in") => {
                i += 1;
                Op::In
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("not") => {
                match toks.get(i + 1) {
                    Some(Token::Ident(w)) if w.eq_ignore_ascii_case("in") => {}
                    _ => return Err(err(filter, "`NOT` must be followed by `IN`".into())),
                }
                i += 2;
                Op::NotIn
            }
            Some(t) => {
                return Err(err(
                    filter,
                    format!(
                        "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN), found {}",
                        shown(t)
                    ),
                ));
            }
            None => return Err(err(filter, "the last clause has no comparator".into())),
        };
        let value = match (op, toks.get(i)) {
            (Op::In | Op::NotIn, Some(Token::Open)) => {
                i += 1;
                let mut items = Vec::new();
                loop {
                    match toks.get(i) {
                        Some(Token::Quoted(s)) => items.push(s.clone()),
                        t => {
                            return Err(err(
                                filter,
                                format!(
                                    "expected a quoted value in the list, found {}",
                                    t.map_or("the end".into(), shown)
                                ),
                            ));
                        }
                    }
                    i += 1;
                    match toks.get(i) {
                        Some(Token::Comma) => i += 1,
                        Some(Token::Close) => {
                            i += 1;
                            break;
                        }
                        t => {
                            return Err(err(
                                filter,
                                format!(
                                    "expected `,` or `)` in the list, found {}",
                                    t.map_or("the end".into(), shown)
                                ),
                            ));
                        }
                    }
                }
                Value::List(items)
            }
            (Op::In | Op::NotIn, t) => {
                return Err(err(
                    filter,
                    format!(
                        "`IN` takes a list in parentheses, found {}",
                        t.map_or("the end".into(), shown)
                    ),
                ));
            }
            (_, Some(Token::Quoted(s))) => {
                i += 1;
                Value::Text(s.clone())
            }
            (_, Some(Token::Number(n))) => {
                i += 1;
                Value::Number(*n)
            }
            (_, t) => {
                return Err(err(
                    filter,
                    format!(
                        "expected a number or a quoted string, found {}",
                        t.map_or("the end".into(), shown)
                    ),
                ));
            }
        };
        check(filter, &key, op, &value)?;
        clauses.push(Clause { key, op, value });
    }
    Ok(clauses)
}

fn shown(t: &Token) -> String {
    match t {
        Token::Ident(s) => format!("`{s}`"),
        Token::Quoted(s) => format!("'{s}'"),
        Token::Number(n) => format!("`{n}`"),
        Token::Op(o) => format!("`{o}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Comma => "`,`".into(),
    }
}

fn classify(filter: &str, key: &str, attributes: &[&str]) -> Result<Key, TrackingError> {
    let (prefix, name) = key.split_once('.').unwrap_or(("", key));
    let k = match prefix.to_ascii_lowercase().as_str() {
        "metric" | "metrics" => Key::Metric(name.to_string()),
        "param" | "params" | "parameter" | "parameters" => Key::Param(name.to_string()),
        "tag" | "tags" => Key::Tag(name.to_string()),
        "attribute" | "attributes" | "attr" | "run" => Key::Attribute(name.to_string()),
        _ => Key::Attribute(key.to_string()),
    };
    if let Key::Attribute(a) = &k
        && !attributes.contains(&a.as_str())
    {
        return Err(err(
            filter,
            format!(
                "`{key}` is not a field this search takes: use `metrics.<name>`, `params.<name>`, `tags.<name>` or one of the attributes {}",
                attributes
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if let Key::Metric(n) | Key::Param(n) | Key::Tag(n) = &k
        && n.is_empty()
    {
        return Err(err(filter, format!("`{key}` names no field")));
    }
    Ok(k)
}

fn check(filter: &str, key: &Key, op: Op, value: &Value) -> Result<(), TrackingError> {
    let numeric = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    match (key, value) {
        (Key::Metric(_), Value::Number(_)) if !matches!(op, Op::Like | Op::ILike) => Ok(()),
        (Key::Metric(n), _) => Err(err(
            filter,
            format!("metric `{n}` is compared to a number with =, !=, <, <=, > or >="),
        )),
        (Key::Param(n) | Key::Tag(n), Value::Text(_)) if !numeric => Ok(()),
        (Key::Param(n) | Key::Tag(n), _) => Err(err(
            filter,
            format!("`{n}` is a string: compare it to a quoted value with =, !=, LIKE or ILIKE"),
        )),
        (Key::Attribute(_), _) => Ok(()),
    }
}

/// SQL's `LIKE`: `%` any run of characters, `_` one character.
pub fn like(text: &str, pattern: &str, case_insensitive: bool) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            text.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (text.chars().collect(), pattern.chars().collect())
    };
    // Dynamic programming over (pattern position, text position).
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for pc in &p {
        let mut next = vec![false; t.len() + 1];
        if *pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=t.len() {
                next[j] = row[j - 1] && (*pc == '_' || *pc == t[j - 1]);
            }
        }
        row = next;
    }
    row[t.len()]
}

/// Whether a string field satisfies a clause's comparison.
pub fn text_matches(field: Option<&str>, op: Op, value: &Value) -> bool {
    let Some(f) = field else {
        return false;
    };
    match (op, value) {
        (Op::Eq, Value::Text(v)) => f == v,
        (Op::Ne, Value::Text(v)) => f != v,
        (Op::Like, Value::Text(v)) => like(f, v, false),
        (Op::ILike, Value::Text(v)) => like(f, v, true),
        (Op::In, Value::List(l)) => l.iter().any(|x| x == f),
        (Op::NotIn, Value::List(l)) => !l.iter().any(|x| x == f),
        (_, Value::Number(n)) => f.parse::<f64>().is_ok_and(|x| number_matches(x, op, *n)),
        _ => false,
    }
}

/// Whether a number satisfies a numeric comparison.
pub fn number_matches(x: f64, op: Op, n: f64) -> bool {
    match op {
        Op::Eq => x == n,
        Op::Ne => x != n,
        Op::Lt => x < n,
        Op::Le => x <= n,
        Op::Gt => x > n,
        Op::Ge => x >= n,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &[&str] = &["status", "run_name", "run_id", "start_time"];

    #[test]
    fn mlflow_filters_parse_into_clauses() {
        let c = parse(
            "metrics.rmse < 0.5 and params.alpha = '0.1' AND tags.`mlflow.runName` LIKE 'ri%' and attributes.status != \"FAILED\" and run_id IN ('a', 'b')",
            A,
        )
        .unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].key, Key::Metric("rmse".into()));
        assert_eq!(c[0].op, Op::Lt);
        assert_eq!(c[0].value, Value::Number(0.5));
        assert_eq!(c[2].key, Key::Tag("mlflow.runName".into()));
        assert_eq!(c[3].key, Key::Attribute("status".into()));
        assert_eq!(c[4].value, Value::List(vec!["a".into(), "b".into()]));
        assert!(parse("", A).unwrap().is_empty());
        assert_eq!(
            parse("tags.\"a b\" = 'x'", A).unwrap()[0].key,
            Key::Tag("a b".into())
        );
    }

    #[test]
    fn injections_and_unsupported_syntax_are_refused_with_the_reason() {
        for (f, says) in [
            ("params.a = 'x' OR 1=1", "`OR` is not supported"),
            (
                "params.a = 'x'; DROP TABLE runs; --",
                "unexpected character `;`",
            ),
            ("params.a = 'x' --", "`--` is not a number"),
            ("metrics.rmse < 'a'", "compared to a number"),
            ("params.a > 1", "is a string"),
            ("password = 'x'", "not a field this search takes"),
            ("params.a = 'x", "never closed"),
            ("run_id IN 'a'", "takes a list"),
        ] {
            let e = parse(f, A).unwrap_err().to_string();
            assert!(e.contains(says), "{f}: {e}");
        }
    }

    #[test]
    fn like_follows_sql() {
        assert!(like("random_forest", "rand%", false));
        assert!(like("random_forest", "%_forest", false));
        assert!(!like("Random", "rand%", false));
        assert!(like("Random", "rand%", true));
        assert!(like("abc", "a_c", false));
        assert!(!like("abcd", "a_c", false));
    }
}
