//! The text-category fixture shared by the core's and the CLI's tests: the heart data with
//! `sex`, `cp`, `slope` and `thal` as words (`thal` keeps its missing cells, now empty), and the
//! label `num` as words: `absent`/`present`, or one word per severity (multiclass).

#![allow(dead_code, clippy::unwrap_used)]

/// The features that become words.
pub const TEXT: [&str; 4] = ["sex", "cp", "slope", "thal"];

/// A heart cell of `col` as the fixture has it (`""` for a missing one).
pub fn word(col: &str, x: &str, multiclass: bool) -> String {
    let w = match (col, x) {
        (_, "?") => "",
        ("sex", "0.0") => "F",
        ("sex", _) => "M",
        ("cp", "1.0") => "typical",
        ("cp", "2.0") => "atypical",
        ("cp", "3.0") => "non-anginal",
        ("cp", _) => "asymptomatic",
        ("slope", "1.0") => "up",
        ("slope", "2.0") => "flat",
        ("slope", _) => "down",
        ("thal", "3.0") => "normal",
        ("thal", "6.0") => "fixed",
        ("thal", _) => "reversible",
        ("num", "0") => "absent",
        ("num", n) if multiclass => {
            ["", "mild", "moderate", "severe", "critical"][n.parse::<usize>().unwrap()]
        }
        ("num", _) => "present",
        _ => x,
    };
    w.to_string()
}

/// The heart CSV text (`heart`) as the fixture: the header, then each row's cells.
pub fn rows(heart: &str, multiclass: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = heart.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(h, c)| word(h, c, multiclass))
                .collect()
        })
        .collect();
    (header, rows)
}
