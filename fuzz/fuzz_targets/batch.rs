//! `cargo fuzz run batch`: see `lgmesh_fuzz::batch` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::batch::Batch;

static TARGET: LazyLock<Batch> = LazyLock::new(Batch::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <Batch as Target>::Input| TARGET.run(input)
);
