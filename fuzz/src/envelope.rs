//! The `envelope` target, and arbitrary manifests for every target that sends one.
//!
//! A [`Manifest`] mirrors `lgmesh.v1.ManifestBody` with types that lead `arbitrary` to
//! values the checks look at (lengths of keys, derived names, times around [`NOW`]),
//! is encoded, signed by one of the fixed keys (or forged), then perhaps [`Mangle`]d.

use arbitrary::Arbitrary;
use lgmesh_protocol::YEAR_MS;
use lgmesh_protocol::envelope::{UnsignedManifest, sign_rotation};
use lgmesh_protocol::identity::PublisherKey;
use lgmesh_protocol::schema::{self, ORG_CARD_NAME, ROTATION_NAME};
use lgmesh_protocol::v1::{self, ManifestBody, manifest_body::Kind as V1Kind};
use prost::Message;

use crate::text::{Num, Text};
use crate::{Input, Mangle, NOW, Store, Target, key, seed_envelopes};

/// An arbitrary envelope.
#[derive(Debug, Arbitrary)]
pub struct Manifest {
    body: Body,
    signer: Signer,
    mangle: Mangle,
}

/// Who signs.
#[derive(Debug, Arbitrary)]
enum Signer {
    /// Fixed key `n % KEYS`, which also becomes the body's publisher.
    Key(u8),
    /// A body claiming `publisher` with a signature of arbitrary bytes.
    Forged {
        publisher: KeyBytes,
        signature: Vec<u8>,
    },
    /// Signed by one key, claiming another.
    Impostor { signer: u8, claimed: u8 },
}

/// A manifest body.
#[derive(Debug, Arbitrary)]
struct Body {
    name: Name,
    version: Num,
    issued: Time,
    expires: Time,
    kind: Option<Kind>,
}

/// A body's name.
#[derive(Debug, Arbitrary)]
enum Name {
    /// The name its kind requires (`org`, `endorse-…`, …; `bins` for the others).
    Proper,
    /// Any.
    Text(Text),
}

/// A time in milliseconds.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Time {
    /// A year after [`NOW`].
    NextYear,
    /// [`NOW`] plus or minus this many seconds.
    Near(i32),
    /// Any.
    Raw(u64),
}

impl Time {
    fn ms(self) -> u64 {
        match self {
            Self::NextYear => NOW + YEAR_MS,
            Self::Near(s) => NOW.saturating_add_signed(i64::from(s) * 1000),
            Self::Raw(ms) => ms,
        }
    }
}

/// 32 bytes that may be a key.
#[derive(Debug, Clone, Arbitrary)]
enum KeyBytes {
    /// Fixed key `n % KEYS`.
    Key(u8),
    /// Any bytes.
    Raw(Vec<u8>),
}

impl KeyBytes {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Key(i) => key(*i).public().as_bytes().to_vec(),
            Self::Raw(b) => b.clone(),
        }
    }
}

/// A SHA-256 field.
#[derive(Debug, Arbitrary)]
enum Digest {
    Empty,
    /// 32 copies of a byte.
    Fill(u8),
    Raw(Vec<u8>),
}

impl Digest {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Empty => vec![],
            Self::Fill(b) => vec![*b; 32],
            Self::Raw(b) => b.clone(),
        }
    }
}

/// An enum field: the known values and a few either side.
#[derive(Debug, Clone, Copy, Arbitrary)]
struct Enum(u8);

impl Enum {
    fn get(self) -> i32 {
        i32::from(self.0 % 24) - 2
    }
}

fn texts(v: &[Text]) -> Vec<String> {
    v.iter().map(|t| t.0.clone()).collect()
}

#[derive(Debug, Arbitrary)]
enum Kind {
    Org(OrgCard),
    Service(Service),
    Dataset(Dataset),
    Retraction(Text),
    Endorsement {
        subject: KeyBytes,
        org_id: Text,
        note: Text,
    },
    Adoption {
        publisher: KeyBytes,
        name: Text,
        version: Num,
        note: Text,
        answers: Vec<NeedRef>,
    },
    Need(Need),
    KeyRotation {
        new_key: KeyBytes,
        signature: RotationSignature,
        valid_ids: Vec<Vec<u8>>,
    },
    Revocation {
        subject: KeyBytes,
        revoked_at: Time,
        reason: Text,
        valid_ids: Vec<Vec<u8>>,
    },
}

/// The new key's signature in a key rotation.
#[derive(Debug, Arbitrary)]
enum RotationSignature {
    /// Made by fixed key `n % KEYS` over the signer's key and the new key.
    By(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Contact {
    contact_name: Text,
    email: Text,
    telephone: Text,
    address: Text,
}

impl Contact {
    fn v1(&self) -> v1::ContactPoint {
        v1::ContactPoint {
            contact_name: self.contact_name.0.clone(),
            email: self.email.0.clone(),
            telephone: self.telephone.0.clone(),
            address: self.address.0.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct OrgCard {
    org_id: Text,
    name: Text,
    org_type: Enum,
    website: Text,
    contact: Option<Contact>,
    node_ids: Vec<Text>,
}

#[derive(Debug, Arbitrary)]
struct Catalogued {
    identifier: Text,
    title: Text,
    alternative_title: Vec<Text>,
    summary: Text,
    description: Text,
    keyword: Vec<Text>,
    theme: Vec<Text>,
    licence: Text,
    access_rights: Enum,
    security_classification: Enum,
    version: Text,
    issued: Text,
    modified: Text,
    created: Text,
    creator: Vec<Text>,
    publisher: Text,
    contact_point: Option<Contact>,
    related_resource: Vec<Text>,
}

impl Catalogued {
    fn v1(&self) -> v1::Catalogued {
        v1::Catalogued {
            identifier: self.identifier.0.clone(),
            title: self.title.0.clone(),
            alternative_title: texts(&self.alternative_title),
            summary: self.summary.0.clone(),
            description: self.description.0.clone(),
            keyword: texts(&self.keyword),
            theme: texts(&self.theme),
            licence: self.licence.0.clone(),
            access_rights: self.access_rights.get(),
            security_classification: self.security_classification.get(),
            version: self.version.0.clone(),
            issued: self.issued.0.clone(),
            modified: self.modified.0.clone(),
            created: self.created.0.clone(),
            creator: texts(&self.creator),
            publisher: self.publisher.0.clone(),
            contact_point: self.contact_point.as_ref().map(Contact::v1),
            related_resource: texts(&self.related_resource),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct LocalGov {
    lgsl: Vec<Num>,
    coverage: Vec<Text>,
    standards: Vec<Text>,
    source_repository: Text,
    cost_model: Enum,
}

impl LocalGov {
    fn v1(&self) -> v1::LocalGov {
        v1::LocalGov {
            lgsl: self.lgsl.iter().map(|n| n.get32()).collect(),
            coverage: texts(&self.coverage),
            standards: texts(&self.standards),
            source_repository: self.source_repository.0.clone(),
            cost_model: self.cost_model.get(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Service {
    common: Option<Catalogued>,
    local: Option<LocalGov>,
    service_type: Enum,
    service_status: Enum,
    endpoint_url: Text,
    endpoint_description: Text,
    endpoint_description_sha256: Digest,
    serves_data: Vec<Text>,
    answers: Vec<NeedRef>,
}

/// A need named by a service or adoption.
#[derive(Debug, Arbitrary)]
struct NeedRef {
    publisher: KeyBytes,
    name: Text,
}

impl NeedRef {
    fn v1(&self) -> v1::NeedRef {
        v1::NeedRef {
            publisher: self.publisher.bytes(),
            name: self.name.0.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Distribution {
    identifier: Text,
    title: Text,
    description: Text,
    download_url: Text,
    media_type: Text,
    byte_size: Num,
    sha256: Digest,
    licence: Text,
    access_rights: Enum,
    issued: Text,
    modified: Text,
    access_service: Vec<Text>,
}

#[derive(Debug, Arbitrary)]
struct Dataset {
    common: Option<Catalogued>,
    local: Option<LocalGov>,
    update_frequency: Enum,
    distribution: Vec<Distribution>,
    conforms_to: Vec<Text>,
    temporal_start: Text,
    temporal_end: Text,
}

#[derive(Debug, Arbitrary)]
struct Need {
    title: Text,
    description: Text,
    lgsl: Vec<Num>,
    coverage: Vec<Text>,
    contact: Option<Contact>,
}

impl Kind {
    /// The prost form; `signer` is the publisher, for a rotation's signature.
    fn v1(&self, signer: &PublisherKey) -> V1Kind {
        match self {
            Self::Org(o) => V1Kind::Org(v1::OrgCard {
                org_id: o.org_id.0.clone(),
                name: o.name.0.clone(),
                org_type: o.org_type.get(),
                website: o.website.0.clone(),
                contact: o.contact.as_ref().map(Contact::v1),
                node_ids: texts(&o.node_ids),
            }),
            Self::Service(s) => V1Kind::Service(v1::Service {
                common: s.common.as_ref().map(Catalogued::v1),
                local: s.local.as_ref().map(LocalGov::v1),
                service_type: s.service_type.get(),
                service_status: s.service_status.get(),
                endpoint_url: s.endpoint_url.0.clone(),
                endpoint_description: s.endpoint_description.0.clone(),
                endpoint_description_sha256: s.endpoint_description_sha256.bytes(),
                serves_data: texts(&s.serves_data),
                answers: s.answers.iter().map(NeedRef::v1).collect(),
            }),
            Self::Dataset(d) => V1Kind::Dataset(v1::Dataset {
                common: d.common.as_ref().map(Catalogued::v1),
                local: d.local.as_ref().map(LocalGov::v1),
                update_frequency: d.update_frequency.get(),
                distribution: d
                    .distribution
                    .iter()
                    .map(|x| v1::Distribution {
                        identifier: x.identifier.0.clone(),
                        title: x.title.0.clone(),
                        description: x.description.0.clone(),
                        download_url: x.download_url.0.clone(),
                        media_type: x.media_type.0.clone(),
                        byte_size: x.byte_size.get(),
                        sha256: x.sha256.bytes(),
                        licence: x.licence.0.clone(),
                        access_rights: x.access_rights.get(),
                        issued: x.issued.0.clone(),
                        modified: x.modified.0.clone(),
                        access_service: texts(&x.access_service),
                    })
                    .collect(),
                conforms_to: texts(&d.conforms_to),
                temporal_start: d.temporal_start.0.clone(),
                temporal_end: d.temporal_end.0.clone(),
            }),
            Self::Retraction(reason) => V1Kind::Retraction(v1::Retraction {
                reason: reason.0.clone(),
            }),
            Self::Endorsement {
                subject,
                org_id,
                note,
            } => V1Kind::Endorsement(v1::Endorsement {
                subject: subject.bytes(),
                org_id: org_id.0.clone(),
                note: note.0.clone(),
            }),
            Self::Adoption {
                publisher,
                name,
                version,
                note,
                answers,
            } => V1Kind::Adoption(v1::Adoption {
                publisher: publisher.bytes(),
                name: name.0.clone(),
                version: version.get(),
                note: note.0.clone(),
                answers: answers.iter().map(NeedRef::v1).collect(),
            }),
            Self::Need(n) => V1Kind::Need(v1::Need {
                title: n.title.0.clone(),
                description: n.description.0.clone(),
                lgsl: n.lgsl.iter().map(|n| n.get32()).collect(),
                coverage: texts(&n.coverage),
                contact: n.contact.as_ref().map(Contact::v1),
            }),
            Self::KeyRotation {
                new_key,
                signature,
                valid_ids,
            } => V1Kind::KeyRotation(v1::KeyRotation {
                new_key: new_key.bytes(),
                new_key_signature: match signature {
                    RotationSignature::By(i) => sign_rotation(&key(*i), signer).to_vec(),
                    RotationSignature::Raw(b) => b.clone(),
                },
                valid_ids: valid_ids.clone(),
            }),
            Self::Revocation {
                subject,
                revoked_at,
                reason,
                valid_ids,
            } => V1Kind::Revocation(v1::Revocation {
                subject: subject.bytes(),
                revoked_at_ms: revoked_at.ms(),
                reason: reason.0.clone(),
                valid_ids: valid_ids.clone(),
            }),
        }
    }
}

impl Body {
    fn v1(&self, publisher: &PublisherKey) -> ManifestBody {
        let kind = self.kind.as_ref().map(|k| k.v1(publisher));
        let name = match &self.name {
            Name::Text(t) => t.0.clone(),
            Name::Proper => match &kind {
                Some(V1Kind::Org(_)) => ORG_CARD_NAME.into(),
                Some(V1Kind::KeyRotation(_)) => ROTATION_NAME.into(),
                Some(V1Kind::Endorsement(e)) => schema::endorsement_name(&e.subject),
                Some(V1Kind::Revocation(r)) => schema::revocation_name(&r.subject),
                Some(V1Kind::Adoption(a)) => schema::adoption_name(&a.publisher, &a.name),
                _ => "bins".into(),
            },
        };
        ManifestBody {
            publisher: publisher.as_bytes().to_vec(),
            name,
            version: self.version.get(),
            issued_at_ms: self.issued.ms(),
            expires_at_ms: self.expires.ms(),
            kind,
        }
    }
}

impl Manifest {
    /// The envelope's bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let bytes = match &self.signer {
            Signer::Key(i) => {
                let k = key(*i);
                UnsignedManifest(self.body.v1(&k.public()))
                    .sign(&k)
                    .to_bytes()
            }
            Signer::Impostor { signer, claimed } => {
                let mut s =
                    UnsignedManifest(self.body.v1(&key(*signer).public())).sign(&key(*signer));
                let mut body = ManifestBody::decode(s.body.as_slice()).unwrap_or_default();
                body.publisher = key(*claimed).public().as_bytes().to_vec();
                s.body = body.encode_to_vec();
                s.to_bytes()
            }
            Signer::Forged {
                publisher,
                signature,
            } => {
                let mut body = self.body.v1(&key(0).public());
                body.publisher = publisher.bytes();
                v1::Envelope {
                    body: body.encode_to_vec(),
                    signature: signature.clone(),
                }
                .encode_to_vec()
            }
        };
        self.mangle.apply(bytes)
    }
}

/// How an envelope arrives.
#[derive(Debug, Arbitrary)]
pub enum Ingress {
    /// `Submit` (and a publish): stored and flushed before the answer.
    Submit,
    /// Gossip: placed at once, flushed later.
    Gossip,
}

/// The `envelope` target: one envelope into a store that holds the seed envelopes.
pub struct Envelope {
    store: Store,
}

/// An envelope and the path it takes (raw bytes go in as a `Submit`).
#[derive(Debug, Arbitrary)]
pub struct EnvelopeInput {
    via: Ingress,
    manifest: Manifest,
}

impl Target for Envelope {
    const NAME: &'static str = "envelope";
    type Input = Input<EnvelopeInput>;

    fn new() -> Self {
        Self {
            store: Store::seeded(),
        }
    }

    fn run(&self, input: Self::Input) {
        let intake = &self.store.intake;
        let submit = |bytes: Vec<u8>| self.store.submit(&[bytes]);
        match input {
            Input::Raw(bytes) => submit(bytes),
            Input::Built(EnvelopeInput { via, manifest }) => {
                let bytes = manifest.to_bytes();
                match via {
                    Ingress::Submit => submit(bytes),
                    // As the network's gossip ingest offers it: applied, not waiting.
                    Ingress::Gossip => {
                        let store: &dyn lgmesh_net::Store = intake.as_ref();
                        let checked = store.check(&[bytes], &[], NOW);
                        let _ = store.offer(
                            checked,
                            lgmesh_net::Path::Gossip,
                            lgmesh_net::Durability::Applied,
                            false,
                            &mut |_| {},
                        );
                    }
                }
            }
        }
    }

    fn seeds() -> Vec<(String, Vec<u8>)> {
        let mut seeds: Vec<_> = seed_envelopes()
            .into_iter()
            .map(|(name, e)| (name.to_owned(), crate::raw(&e)))
            .collect();
        seeds.push(("empty".to_owned(), crate::raw(&[])));
        seeds
    }
}
