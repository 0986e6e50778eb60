//! `cargo fuzz run sync-response`: see `lgmesh_fuzz::sync` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::sync::SyncResponseTarget;

static TARGET: LazyLock<SyncResponseTarget> = LazyLock::new(SyncResponseTarget::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <SyncResponseTarget as Target>::Input| TARGET.run(input)
);
