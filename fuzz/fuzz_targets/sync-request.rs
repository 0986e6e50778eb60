//! `cargo fuzz run sync-request`: see `lgmesh_fuzz::sync` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::sync::SyncRequestTarget;

static TARGET: LazyLock<SyncRequestTarget> = LazyLock::new(SyncRequestTarget::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <SyncRequestTarget as Target>::Input| TARGET.run(input)
);
