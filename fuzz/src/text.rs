//! Strings for structured inputs. Checks that want an org id, a URL, a date or a slug
//! almost never see one in random text, so most of the time a [`Text`] is a word that
//! lgmesh's schema knows (or nearly accepts), sometimes a long run of multibyte
//! characters, and otherwise any string.

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use lgmesh_protocol::sample::OGL;

/// A string: a known word, two joined, a word repeated, a run of multibyte characters,
/// or arbitrary text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

/// Words the schema, the document reader or the API know, and near misses.
const WORDS: &[&str] = &[
    "",
    " ",
    "bins",
    "bin-collection-days",
    "-bins",
    "Bins",
    "org",
    "key-rotation",
    "endorse-",
    "adopt-",
    "revoke-",
    "gss:E07000209",
    "gss:E08000035",
    "gss:X",
    "ons:E07000209",
    "E07000209",
    "S12000036",
    "Guildford Borough Council",
    "Bin days",
    "By postcode.",
    "https://api.example.gov.uk/bins",
    "https://api.example.gov.uk/bins/openapi.json",
    "http://",
    "ftp://example.org/x",
    OGL,
    "DATA_SHARE_AGREEMENT",
    "2026-11-01",
    "2024-02-29",
    "2023-02-29",
    "2026",
    "2026-13",
    "text/csv",
    "application/json",
    "nothing/else",
    "waste@example.gov.uk",
    "@",
    "+44 1483 505050",
    "OPEN",
    "INTERNAL",
    "OFFICIAL",
    "NOT_APPLICABLE",
    "REST",
    "EVENT",
    "LIVE",
    "PUBLIC_BETA",
    "FREE",
    "COST_RECOVERY",
    "freq:monthly",
    "freq:",
    "weekly",
    "dcat:DataService",
    "dcat:Dataset",
    "dcat:Distribution",
    "service",
    "dataset",
    "need",
    "retraction",
    "524",
    "0",
    "9999",
    "10000",
    "-1",
    "4294967296",
    "9f2c4e1b7a3d5f60812e4c9b0a7d3e5f1c2b4a6d8e0f1a3c5b7d9e1f3a5c7e9b",
    "did:key:",
    "did:key:z6Mk",
    "z6Mk",
    "toml",
    "yaml",
    "JSON",
    "waste",
    "é",
    "日本",
    "𝔘",
    "\u{0}",
    "\n",
    "\"",
    "'",
    "#",
];

/// [`WORDS`] and the fixed keys as `did:key` text.
static DICTIONARY: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut words: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    words.extend((0..crate::KEYS).map(|i| crate::key(i).public().to_string()));
    words
});

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let dict = &*DICTIONARY;
        let word =
            |u: &mut Unstructured<'a>| -> arbitrary::Result<String> { Ok(u.choose(dict)?.clone()) };
        Ok(Text(match u8::arbitrary(u)? {
            0..=143 => word(u)?,
            144..=175 => {
                let (a, b) = (word(u)?, word(u)?);
                a + &b
            }
            176..=199 => word(u)?.repeat(usize::from(u8::arbitrary(u)?)),
            // Long non-ASCII text at every alignment: where code cuts strings by bytes.
            200..=223 => {
                let ascii = "a".repeat(usize::from(u8::arbitrary(u)? % 64));
                let wide = u.choose(&['é', '日', '𝔘', '\u{200b}'])?;
                ascii + &wide.to_string().repeat(usize::from(u8::arbitrary(u)?))
            }
            _ => String::arbitrary(u)?,
        }))
    }
}

impl Text {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0
    }
}

/// A number: usually small, sometimes any.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Num {
    /// 0 to 255.
    Small(u8),
    /// Any.
    Any(u64),
}

impl Num {
    /// The number.
    pub fn get(self) -> u64 {
        match self {
            Self::Small(n) => u64::from(n),
            Self::Any(n) => n,
        }
    }

    /// The number, cut to 32 bits.
    pub fn get32(self) -> u32 {
        self.get() as u32
    }
}
