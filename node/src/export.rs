//! Open exports of the catalogue, for harvesters and other registries: DCAT-AP 3
//! JSON-LD (`dcat`), served at `/catalog.jsonld` and written by `lgmesh export dcat`.

pub mod dcat;
