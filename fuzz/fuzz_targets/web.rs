//! `cargo fuzz run web`: see `lgmesh_fuzz::web` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::web::WebTarget;

static TARGET: LazyLock<WebTarget> = LazyLock::new(WebTarget::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <WebTarget as Target>::Input| TARGET.run(input)
);
