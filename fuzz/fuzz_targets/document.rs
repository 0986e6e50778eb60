//! `cargo fuzz run document`: see `lgmesh_fuzz::document` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::document::DocumentTarget;

static TARGET: LazyLock<DocumentTarget> = LazyLock::new(DocumentTarget::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <DocumentTarget as Target>::Input| TARGET.run(input)
);
