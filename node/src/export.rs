//! Open exports of the catalogue, for harvesters and other registries: DCAT-AP 3
//! JSON-LD (`dcat`), served at `/catalog.jsonld` and written by `lgmesh export dcat`;
//! and records of the UK Cross-Government Metadata Exchange Model in YAML (`ukgov`),
//! one file each, written by `lgmesh export ukgov`, which publish again unchanged.

pub mod dcat;
pub mod ukgov;
