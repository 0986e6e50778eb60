//! `cargo fuzz run envelope`: see `lgmesh_fuzz::envelope` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::envelope::Envelope;

static TARGET: LazyLock<Envelope> = LazyLock::new(Envelope::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <Envelope as Target>::Input| TARGET.run(input)
);
