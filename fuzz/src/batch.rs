//! The `batch` target: one envelope in a page of valid ones, checked as sync checks a
//! page (`validate::verify_many`, one batched signature check per chunk). Every
//! envelope's verdict in the page must be the one it gets alone; a difference is a
//! panic, since it would let a peer make a node refuse (or accept) good manifests by
//! what it sends beside them.

use lgmesh_protocol::validate::{self, Limits};

use crate::envelope::Manifest;
use crate::{Input, NOW, Target, seed_envelopes};

/// The `batch` target.
pub struct Batch {
    page: Vec<Vec<u8>>,
}

impl Target for Batch {
    const NAME: &'static str = "batch";
    type Input = Input<Manifest>;

    fn new() -> Self {
        Self {
            page: seed_envelopes().into_iter().map(|(_, e)| e).collect(),
        }
    }

    fn run(&self, input: Self::Input) {
        let bytes = match input {
            Input::Raw(bytes) => bytes,
            Input::Built(m) => m.to_bytes(),
        };
        let at = self.page.len() / 2;
        let mut items = self.page.clone();
        items.insert(at, bytes);
        let limits = Limits::default();
        let batched = validate::verify_many(&items, &limits, NOW);
        assert_eq!(batched.len(), items.len(), "a verdict per envelope");
        for (i, (b, item)) in batched.iter().zip(&items).enumerate() {
            let alone = validate::verify_bytes(item, &limits, NOW);
            let same = match (b, &alone) {
                (Ok(x), Ok(y)) => x.id() == y.id(),
                (Err(x), Err(y)) => x.reason == y.reason && x.message == y.message,
                _ => false,
            };
            assert!(
                same,
                "envelope {i} of the page: checked in a batch {:?}, alone {:?}",
                b.as_ref().map(|m| m.id()),
                alone.as_ref().map(|m| m.id()),
            );
        }
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        seed_envelopes()
            .into_iter()
            .map(|(name, e)| (name.to_owned(), crate::raw(&e)))
            .collect()
    }
}
