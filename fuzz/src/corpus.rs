//! The committed corpus, `fuzz/corpus/TARGET/`: each target's [`Target::seeds`], a few
//! small valid inputs from which libFuzzer starts.
//!
//! `LGMESH_FUZZ_WRITE_CORPUS=1 cargo test -p lgmesh-fuzz corpus` writes the seeds there
//! again (after a seed changes); without it, the tests run every seed and every
//! committed corpus file through its target once, so that a plain `cargo test` still
//! catches a target that panics on its own corpus.

use std::path::PathBuf;

use crate::Target;

/// The corpus directory of the target called `name`.
pub fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

/// Writes `T`'s seeds into its corpus directory (other files there are left alone).
pub fn write<T: Target>() -> std::io::Result<()> {
    let dir = dir(T::NAME);
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in T::seeds() {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Batch;
    use crate::document::DocumentTarget;
    use crate::envelope::Envelope;
    use crate::grpc::Grpc;
    use crate::sync::{SyncRequestTarget, SyncResponseTarget};
    use crate::web::WebTarget;

    fn check<T: Target>() {
        if std::env::var_os("LGMESH_FUZZ_WRITE_CORPUS").is_some() {
            write::<T>().expect("write the corpus");
        }
        let target = T::new();
        for (_, bytes) in T::seeds() {
            target.run_bytes(&bytes);
        }
        let files = std::fs::read_dir(dir(T::NAME)).expect("the corpus directory");
        let mut n = 0;
        for f in files {
            let bytes = std::fs::read(f.expect("a corpus entry").path()).expect("a corpus file");
            target.run_bytes(&bytes);
            n += 1;
        }
        assert!(n > 0, "fuzz/corpus/{} is empty", T::NAME);
    }

    #[test]
    fn envelope_corpus() {
        check::<Envelope>();
    }

    #[test]
    fn batch_corpus() {
        check::<Batch>();
    }

    #[test]
    fn sync_request_corpus() {
        check::<SyncRequestTarget>();
    }

    #[test]
    fn sync_response_corpus() {
        check::<SyncResponseTarget>();
    }

    #[test]
    fn document_corpus() {
        check::<DocumentTarget>();
    }

    #[test]
    fn grpc_corpus() {
        check::<Grpc>();
    }

    #[test]
    fn web_corpus() {
        check::<WebTarget>();
    }
}
