//! Text analysis for search: lower-case, split on anything not a letter or digit, drop
//! common English words, stem with the Snowball English stemmer.

use std::collections::BTreeMap;

use rust_stemmers::{Algorithm, Stemmer};

/// Longest token kept, in bytes.
const MAX_TOKEN: usize = 40;
/// Most distinct terms indexed for one manifest.
pub const MAX_TERMS_PER_DOC: usize = 2000;

const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it", "its",
    "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with",
];

/// The analyser (holds the stemmer).
pub struct Analyzer(Stemmer);

impl Default for Analyzer {
    fn default() -> Self {
        Self(Stemmer::create(Algorithm::English))
    }
}

impl Analyzer {
    /// The terms of a text, in order, repeated as they occur.
    pub fn terms(&self, text: &str, out: &mut Vec<String>) {
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            if word.is_empty() || word.len() > MAX_TOKEN {
                continue;
            }
            let lower = word.to_lowercase();
            if STOP.contains(&lower.as_str()) {
                continue;
            }
            out.push(self.0.stem(&lower).into_owned());
        }
    }

    /// Weighted term frequencies of a document's fields: `(text, weight)` pairs.
    pub fn frequencies(&self, fields: &[(&str, u16)]) -> BTreeMap<String, u16> {
        let mut tf = BTreeMap::new();
        let mut buf = Vec::new();
        for (text, weight) in fields {
            buf.clear();
            self.terms(text, &mut buf);
            for t in buf.drain(..) {
                if tf.len() >= MAX_TERMS_PER_DOC && !tf.contains_key(&t) {
                    continue;
                }
                let e = tf.entry(t).or_insert(0u16);
                *e = e.saturating_add(*weight);
            }
        }
        tf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_and_drops_stop_words() {
        let a = Analyzer::default();
        let mut t = vec![];
        a.terms("The Collections of Bins, collecting bin-days!", &mut t);
        assert_eq!(t, ["collect", "bin", "collect", "bin", "day"]);
    }
}
