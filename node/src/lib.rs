//! The lgmesh node, as a library: the `lgmesh` binary (`main.rs`) is a thin CLI over it,
//! and the benchmark program and tests use it directly.
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | `lgmesh.toml`: the settings, their defaults and checks |
//! | [`datadir`] | the data directory: key files, the admin token, `init` |
//! | [`keys`] | `keys export` and `keys import`: the keys in one file under a passphrase, in the age format |
//! | [`app`] | the domain layer: signing and storing this organisation's manifests; reads, and the views clients see |
//! | [`intake`] | the one way into the store (every path), and what follows a write |
//! | [`domain`] | domain proof: checking `/.well-known/lgmesh.json` on org websites |
//! | [`grpc`] | the gRPC services (the one place errors become `tonic::Status`) |
//! | [`http`], [`metrics`] | `/healthz`, `/readyz`, `/metrics` |
//! | [`server`] | start-up, serving and ordered shutdown |
//! | [`listener`], [`tls`] | accepting gRPC and HTTP connections, in clear on loopback or over TLS, and the certificate, reloaded when renewed |
//! | [`tasks`] | every task a node runs: one stop signal, one tracker |
//! | [`cli`] | the commands: their flags, those that need no node, those that talk to it |
//! | [`view`] | manifests as text and JSON for the commands' output |
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
// The CLI's doc comments are also its `--help` text, written for a terminal: plain
// URLs and `<data-dir>` placeholders are meant literally there.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

/// `println!` for the commands' output. When whoever reads it has gone (`lgmesh search
/// | head`, `lgmesh watch | grep -m1`), the command ends quietly with success, as Unix
/// tools do, instead of panicking on the broken pipe.
macro_rules! out {
    () => { $crate::cli::emit(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::emit(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!`, likewise.
macro_rules! out_part {
    ($($t:tt)*) => { $crate::cli::emit(format_args!($($t)*)) };
}

pub mod app;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod demo;
pub mod domain;
pub mod export;
pub mod grpc;
pub mod http;
pub mod intake;
pub mod keys;
pub mod listener;
pub mod metrics;
pub mod server;
pub mod tasks;
pub mod tls;
pub mod view;
pub mod web;
