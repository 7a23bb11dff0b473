//! A text column stored once per distinct text: each cell is a `u32` code into the column's
//! dictionary. A table's text columns (categories, mostly) repeat a few values many times, so a
//! cell takes 4 bytes instead of a `String` each (24 bytes plus its allocation): this is what
//! lets a large file's text columns fit in the train function's memory.

use std::collections::HashMap;

/// The code of a missing cell.
const MISSING: u32 = u32::MAX;

/// A column of text cells, `None` for a missing one.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    /// The distinct texts, in order of first appearance.
    dict: Vec<String>,
    /// Each cell's index into `dict`, or [`MISSING`].
    codes: Vec<u32>,
    /// Where each text of `dict` is, while cells are added ([`Texts::seal`] drops it, and
    /// [`Texts::push`] makes it again when needed).
    index: HashMap<String, u32>,
}

impl Texts {
    pub fn new() -> Self {
        Texts::default()
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Cell `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        match self.codes[i] {
            MISSING => None,
            c => Some(&self.dict[c as usize]),
        }
    }

    /// Cell `i`'s index among [`Texts::coded`]'s distinct texts (`None` when missing).
    #[inline]
    pub fn code(&self, i: usize) -> Option<usize> {
        let c = self.codes[i];
        (c != MISSING).then_some(c as usize)
    }

    /// Add a cell at the end.
    pub fn push(&mut self, cell: Option<&str>) {
        if self.index.len() != self.dict.len() {
            self.index = (0..).zip(&self.dict).map(|(c, s)| (s.clone(), c)).collect();
        }
        let code = match cell {
            None => MISSING,
            Some(s) => match self.index.get(s) {
                Some(&c) => c,
                None => {
                    // A column with 2^32 - 1 distinct texts cannot come from a file mlinfra
                    // reads (at most a few GiB): the last code stays reserved for missing.
                    let c = self.dict.len() as u32;
                    self.dict.push(s.to_string());
                    self.index.insert(s.to_string(), c);
                    c
                }
            },
        };
        self.codes.push(code);
    }

    /// Done adding cells: frees what adding needs (the dictionary's index, spare capacity).
    pub fn seal(&mut self) {
        self.index = HashMap::new();
        self.codes.shrink_to_fit();
        self.dict.shrink_to_fit();
    }

    /// Every cell, in order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The distinct texts (in order of first appearance) and each cell's index among them
    /// (`None` when missing): to work on each distinct text once.
    pub fn coded(&self) -> (&[String], impl Iterator<Item = Option<usize>> + '_) {
        let codes = self
            .codes
            .iter()
            .map(|&c| (c != MISSING).then_some(c as usize));
        (&self.dict, codes)
    }

    /// The cells at `idx`, in that order (sharing nothing with `self`).
    pub fn select(&self, idx: &[usize]) -> Texts {
        // Old code → new code, each text copied when first met.
        let mut remap = vec![MISSING; self.dict.len()];
        let mut t = Texts::new();
        t.codes.reserve_exact(idx.len());
        for &i in idx {
            let code = match self.codes[i] {
                MISSING => MISSING,
                c => {
                    let new = &mut remap[c as usize];
                    if *new == MISSING {
                        *new = t.dict.len() as u32;
                        t.dict.push(self.dict[c as usize].clone());
                    }
                    *new
                }
            };
            t.codes.push(code);
        }
        t
    }
}

impl PartialEq for Texts {
    /// The same cells, however they are coded.
    fn eq(&self, other: &Texts) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a> FromIterator<Option<&'a str>> for Texts {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(cells: I) -> Texts {
        let mut t = Texts::new();
        for c in cells {
            t.push(c);
        }
        t.seal();
        t
    }
}

impl FromIterator<Option<String>> for Texts {
    fn from_iter<I: IntoIterator<Item = Option<String>>>(cells: I) -> Texts {
        let mut t = Texts::new();
        for c in cells {
            t.push(c.as_deref());
        }
        t.seal();
        t
    }
}

impl From<Vec<Option<String>>> for Texts {
    fn from(cells: Vec<Option<String>>) -> Texts {
        cells.into_iter().collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_back_as_written_and_repeats_are_stored_once() {
        let t: Texts = [Some("b"), None, Some("a"), Some("b"), Some("")]
            .into_iter()
            .collect();
        assert_eq!(t.len(), 5);
        let cells: Vec<Option<&str>> = t.iter().collect();
        assert_eq!(cells, [Some("b"), None, Some("a"), Some("b"), Some("")]);
        let (dict, codes) = t.coded();
        assert_eq!(dict, ["b", "a", ""]);
        assert_eq!(
            codes.collect::<Vec<_>>(),
            [Some(0), None, Some(1), Some(0), Some(2)]
        );
        let s = t.select(&[3, 1]);
        assert_eq!(s.iter().collect::<Vec<_>>(), [Some("b"), None]);
        assert_eq!(s.coded().0, ["b"], "a selection keeps only its own texts");
        let mut other: Texts = vec![Some("b".to_string()), None].into();
        assert_eq!(s, other);
        other.push(Some("b"));
        other.push(Some("c"));
        assert_eq!(
            other.coded().0,
            ["b", "c"],
            "adding after sealing finds the texts"
        );
        assert_ne!(s, t);
    }
}
