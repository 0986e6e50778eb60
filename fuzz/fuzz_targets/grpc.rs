//! `cargo fuzz run grpc`: see `lgmesh_fuzz::grpc` and `fuzz/README.md`.
#![no_main]

use std::sync::LazyLock;

use lgmesh_fuzz::Target;
use lgmesh_fuzz::grpc::Grpc;

static TARGET: LazyLock<Grpc> = LazyLock::new(Grpc::new);

libfuzzer_sys::fuzz_target!(
    init: LazyLock::force(&TARGET),
    |input: <Grpc as Target>::Input| TARGET.run(input)
);
