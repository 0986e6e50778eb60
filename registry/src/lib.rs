//! The lgmesh registry: a sled store for signed manifests.
//!
//! What it is: the source of truth on disk for one node. It validates every manifest
//! offered to it with `lgmesh_protocol::validate` (one function for every path), keeps
//! the exact bytes, tracks the head and history of each `(publisher, name)`, keeps
//! retraction tombstones and equivocation evidence, keeps the live-head sync set (in
//! memory, derived from the head records at the first sync), and answers ranked,
//! filtered, paginated searches from a tantivy index kept beside sled as derived data.
//!
//! What it is not: a network component or a server. The node wraps it.
//!
//! ```no_run
//! use lgmesh_registry::{Durability, IfBusy, PutOutcome, Query, Registry};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reg = Registry::open(std::path::Path::new("/tmp/lgmesh-store"), Default::default())?;
//! # let envelope_bytes: Vec<u8> = vec![];
//! let checked = reg.check(&[envelope_bytes], &[], lgmesh_protocol::now_ms());
//! for outcome in reg.write(checked, Durability::Flushed, IfBusy::Wait, |_| {})? {
//!     match outcome {
//!         PutOutcome::Stored(id) => println!("stored {id}"),
//!         PutOutcome::Duplicate(id) => println!("already had {id}"),
//!         PutOutcome::Rejected(r) => println!("refused: {r}"),
//!     }
//! }
//! let page = reg.search(&Query { text: "bin collection".into(), page_size: 10, ..Default::default() })?;
//! println!("{} results", page.total);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod error;
pub mod search;
mod staging;
pub mod store;
pub mod trust;

pub use lgmesh_protocol::validate::Checked;
pub use search::{Hit, Page, Query, QueryError, SearchError};
pub use store::{
    Counts, Durability, Equivocation, FORMAT_VERSION, IfBusy, OrgCard, OrgInfo, PutOutcome, Quota,
    Registry, StoreError, Stored, SyncPayload, backup,
};
pub use trust::{DomainProof, PublisherTrust, TrustView, Verification};
