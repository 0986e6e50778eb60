//! Compiles `proto/lgmesh/v1/*.proto` with protox (pure Rust, no system `protoc`) and
//! keeps the file descriptor set for gRPC server reflection.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/lgmesh/v1/manifest.proto",
        "proto/lgmesh/v1/registry.proto",
        "proto/lgmesh/v1/node.proto",
        "proto/lgmesh/v1/sync.proto",
        "proto/lgmesh/v1/trust.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("lgmesh_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
