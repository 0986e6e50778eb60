//! DCAT-AP 3 JSON-LD of the federation's live services (`dcat:DataService`) and datasets
//! (`dcat:Dataset`), valid against the official DCAT-AP 3.0.0 SHACL shapes (the test
//! `node/tests/dcat.rs` checks it with pyshacl).
//!
//! The document stands alone, as offline harvesters need: the `@context` is embedded
//! (prefixes only), every IRI is absolute, and every node another node links to is in
//! the same `@graph`, typed: the catalogue's publisher and each resource's publisher
//! (`foaf:Agent` with `foaf:name`), licences (`dct:LicenseDocument`), contact points
//! (`vcard:Kind`), places (`dct:Location`, ONS statistical geographies), LGSL services
//! as themes (`skos:Concept`), standards (`dct:Standard`), and the EU vocabularies'
//! concepts (access rights, frequency, file type, language) with their schemes.
//!
//! A big catalogue comes in pages ([`PAGE`] resources each), linked the way DCAT
//! harvesters follow (Hydra: `hydra:PagedCollection` with `hydra:nextPage`).

use std::collections::BTreeMap;

use lgmesh_proto::v1::{self, manifest_body::Kind};
use serde_json::{Map, Value, json};

/// Resources to a page of `/catalog.jsonld`.
pub const PAGE: usize = 500;

const EU: &str = "http://publications.europa.eu/resource/authority/";
const LGSL_SCHEME: &str = "http://id.esd.org.uk/list/services";
const GSS: &str = "http://statistics.data.gov.uk/id/statistical-geography/";
const OGL: &str = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/";

/// The organisation behind a publisher key, from its org card.
#[derive(Debug, Clone, Default)]
pub struct Agent {
    /// `scheme:value`, e.g. `gss:E07000209`; empty without an org card.
    pub org_id: String,
    pub name: String,
    /// Its website, when the card names one.
    pub website: String,
}

/// One resource to describe: its manifest, the publisher's key and organisation.
pub struct Item<'a> {
    pub id: String,
    pub publisher: String,
    pub body: &'a v1::ManifestBody,
    pub agent: Agent,
}

/// What the catalogue says of itself.
pub struct Catalogue<'a> {
    /// The node's base URL, e.g. `http://127.0.0.1:7421` (no trailing slash).
    pub base: &'a str,
    /// Who publishes the catalogue: the node's organisation, or for an observer the
    /// node itself.
    pub publisher: Agent,
    /// When (RFC 3339 UTC).
    pub modified: String,
    /// This page (from 1) and the number of pages; 1 of 1 for a whole export.
    pub page: usize,
    pub pages: usize,
    /// How many resources in all.
    pub total: usize,
}

/// A document being built: nodes by `@id`, each written once.
struct Graph {
    nodes: BTreeMap<String, Map<String, Value>>,
}

fn lit(s: &str) -> Value {
    json!({"@value": s, "@language": "en"})
}

fn iri(s: &str) -> Value {
    json!({"@id": s})
}

fn typed(v: &str, t: &str) -> Value {
    json!({"@value": v, "@type": t})
}

/// An absolute http(s) URL that is also a valid IRI as harvesters parse it: only
/// RFC 3986's unreserved and reserved characters (and `%`), at most one `#`, no
/// brackets (IPv6 hosts are not catalogue addresses). Anything else is left out of
/// the document rather than break it.
fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && s.len() <= 2048
        && s.matches('#').count() <= 1
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=%".contains(&b))
}

/// Percent-encodes everything but unreserved characters and `:`.
fn enc(s: &str) -> String {
    crate::view::percent_encode(s, b":")
}

/// A manifest date as typed RDF: `2023-04-03`, `2023-04` or `2023`.
fn date(s: &str) -> Option<Value> {
    let t = match s.len() {
        10 => "xsd:date",
        7 => "xsd:gYearMonth",
        4 => "xsd:gYear",
        _ => return None,
    };
    s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'-')
        .then(|| typed(s, t))
}

impl Graph {
    /// The node `id`, made with type `ty`, or given `ty` beside the types it has: one
    /// IRI may be a licence and a service's endpoint at once, as publishers wrote.
    fn node(&mut self, id: &str, ty: Value) -> &mut Map<String, Value> {
        let n = self.nodes.entry(id.to_owned()).or_insert_with(|| {
            let mut m = Map::new();
            m.insert("@id".into(), Value::String(id.to_owned()));
            m
        });
        let mut types: Vec<Value> = match n.remove("@type") {
            Some(Value::Array(a)) => a,
            Some(v) => vec![v],
            None => vec![],
        };
        for t in match ty {
            Value::Array(a) => a,
            v => vec![v],
        } {
            if !types.contains(&t) {
                types.push(t);
            }
        }
        let ty = if types.len() == 1 {
            types.remove(0)
        } else {
            Value::Array(types)
        };
        n.insert("@type".into(), ty);
        n
    }

    /// An EU vocabulary concept with its scheme: `kind` is the list (`frequency`), `code`
    /// the entry (`WEEKLY`), `ty` the DCAT class it plays.
    fn eu(&mut self, kind: &str, code: &str, label: &str, ty: &str, scheme_title: &str) -> Value {
        let scheme = format!("{EU}{kind}");
        let id = format!("{scheme}/{code}");
        let n = self.node(&id, json!([ty, "skos:Concept"]));
        n.insert("skos:prefLabel".into(), lit(label));
        n.insert("skos:inScheme".into(), iri(&scheme));
        self.node(&scheme, json!("skos:ConceptScheme"))
            .insert("dct:title".into(), lit(scheme_title));
        iri(&id)
    }

    /// A licence: its URL, or for a name (`DATA_SHARE_AGREEMENT`) an IRI under `base`.
    fn licence(&mut self, base: &str, l: &str) -> Value {
        let l = if l.is_empty() { OGL } else { l };
        let id = if is_url(l) {
            l.to_owned()
        } else {
            format!("{base}/licences/{}", enc(l))
        };
        let label = if l == OGL
            || l.trim_start_matches("http://")
                .trim_start_matches("https://")
                == OGL.trim_start_matches("https://")
        {
            "Open Government Licence v3.0".to_owned()
        } else if l == "DATA_SHARE_AGREEMENT" {
            "A data sharing agreement with the publisher".to_owned()
        } else {
            l.to_owned()
        };
        self.node(&id, json!("dct:LicenseDocument"))
            .insert("rdfs:label".into(), lit(&label));
        iri(&id)
    }

    /// An agent: `{base}/agents/{org id}`, or by key without an org card.
    fn agent(&mut self, base: &str, a: &Agent, key: &str) -> Value {
        let id = if a.org_id.is_empty() {
            format!("{base}/agents/{}", enc(key))
        } else {
            format!("{base}/agents/{}", enc(&a.org_id))
        };
        let name = if a.name.is_empty() { key } else { &a.name };
        let website = a.website.clone();
        let n = self.node(&id, json!("foaf:Agent"));
        n.insert("foaf:name".into(), lit(name));
        if !a.org_id.is_empty() {
            n.insert("dct:identifier".into(), Value::String(a.org_id.clone()));
        }
        if is_url(&website) {
            n.insert("foaf:homepage".into(), iri(&website));
            self.node(&website, json!("foaf:Document"));
        }
        iri(&id)
    }

    fn resource_url(&mut self, url: &str) -> Value {
        self.node(url, json!("rdfs:Resource"));
        iri(url)
    }

    /// Standards: a URL as it is, a name under `base`.
    fn standard(&mut self, base: &str, s: &str) -> Value {
        let s = s.trim();
        let id = if is_url(s) {
            s.to_owned()
        } else {
            format!("{base}/standards/{}", enc(s))
        };
        self.node(&id, json!("dct:Standard"))
            .insert("dct:title".into(), lit(s));
        iri(&id)
    }

    fn themes(&mut self, lgsl: &[u32]) -> Vec<Value> {
        let mut out = vec![];
        for code in lgsl {
            let id = format!("http://id.esd.org.uk/service/{code}");
            let label = crate::web::lgsl_label(*code)
                .map_or_else(|| format!("LGSL service {code}"), str::to_owned);
            let n = self.node(&id, json!("skos:Concept"));
            n.insert("skos:prefLabel".into(), lit(&label));
            n.insert("skos:notation".into(), Value::String(code.to_string()));
            n.insert("skos:inScheme".into(), iri(LGSL_SCHEME));
            out.push(iri(&id));
        }
        if !out.is_empty() {
            self.node(LGSL_SCHEME, json!("skos:ConceptScheme")).insert(
                "dct:title".into(),
                lit("Local Government Services List (LGSL)"),
            );
        }
        out
    }

    fn places(&mut self, codes: &[String]) -> Vec<Value> {
        codes
            .iter()
            .filter(|c| c.len() == 9 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|c| {
                let id = format!("{GSS}{c}");
                self.node(&id, json!("dct:Location"))
                    .insert("dct:identifier".into(), Value::String(c.clone()));
                iri(&id)
            })
            .collect()
    }
}

fn access(g: &mut Graph, a: i32) -> Option<Value> {
    let (code, label) = match v1::AccessRights::try_from(a) {
        Ok(v1::AccessRights::Open) => ("PUBLIC", "public"),
        Ok(v1::AccessRights::Internal) => ("NON_PUBLIC", "non-public"),
        Ok(v1::AccessRights::Commercial) => ("RESTRICTED", "restricted"),
        _ => return None,
    };
    Some(g.eu(
        "access-right",
        code,
        label,
        "dct:RightsStatement",
        "Access right",
    ))
}

fn frequency(g: &mut Graph, f: i32) -> Option<Value> {
    use v1::UpdateFrequency as F;
    let code = match F::try_from(f).ok()? {
        F::Triennial => "TRIENNIAL",
        F::Biennial => "BIENNIAL",
        F::Annual => "ANNUAL",
        F::Semiannual => "ANNUAL_2",
        F::ThreeTimesAYear => "ANNUAL_3",
        F::Quarterly => "QUARTERLY",
        F::Bimonthly => "BIMONTHLY",
        F::Monthly => "MONTHLY",
        F::Semimonthly => "MONTHLY_2",
        F::ThreeTimesAMonth => "MONTHLY_3",
        F::Biweekly => "BIWEEKLY",
        F::Weekly => "WEEKLY",
        F::Semiweekly => "WEEKLY_2",
        F::ThreeTimesAWeek => "WEEKLY_3",
        F::Daily => "DAILY",
        F::Continuous => "CONT",
        F::Irregular => "IRREG",
        F::Unspecified => return None,
    };
    let label = code.to_lowercase().replace('_', " ");
    Some(g.eu("frequency", code, &label, "dct:Frequency", "Frequency"))
}

/// The EU file type of an IANA media type, when it has one.
fn file_type(media: &str) -> Option<&'static str> {
    Some(match media.split(';').next()?.trim() {
        "text/csv" => "CSV",
        "application/json" => "JSON",
        "application/geo+json" => "GEOJSON",
        "application/xml" | "text/xml" => "XML",
        "text/html" => "HTML",
        "application/pdf" => "PDF",
        "application/zip" => "ZIP",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "XLSX",
        "application/vnd.ms-excel" => "XLS",
        "application/vnd.oasis.opendocument.spreadsheet" => "ODS",
        "application/ld+json" => "JSON_LD",
        "text/turtle" => "RDF_TURTLE",
        "application/rdf+xml" => "RDF_XML",
        "text/plain" => "TXT",
        _ => return None,
    })
}

/// The fields services and datasets share; returns the resource's node id.
fn common(g: &mut Graph, cat: &Catalogue, item: &Item, ty: &str) -> Option<String> {
    let b = item.body;
    let (c, local) = match &b.kind {
        Some(Kind::Service(s)) => (s.common.as_ref()?, s.local.as_ref()),
        Some(Kind::Dataset(d)) => (d.common.as_ref()?, d.local.as_ref()),
        _ => return None,
    };
    let id = format!(
        "{}/resources/{}/{}",
        cat.base,
        enc(&item.publisher),
        enc(&b.name)
    );
    let publisher = g.agent(cat.base, &item.agent, &item.publisher);
    let landing = format!("{}/manifests/{}", cat.base, item.id);
    g.node(&landing, json!("foaf:Document"));
    let themes = local.map(|l| g.themes(&l.lgsl)).unwrap_or_default();
    let places = local.map(|l| g.places(&l.coverage)).unwrap_or_default();
    let rights = access(g, c.access_rights);
    let licence = g.licence(cat.base, &c.licence);
    let contact = c.contact_point.as_ref().map(|cp| {
        let cid = format!("{id}#contact");
        let n = g.node(&cid, json!("vcard:Kind"));
        n.insert("vcard:fn".into(), Value::String(cp.contact_name.clone()));
        // Only an address that is a valid mailto: IRI as it is.
        let plain = cp
            .email
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_+".contains(&b));
        if plain && cp.email.matches('@').count() == 1 {
            n.insert(
                "vcard:hasEmail".into(),
                iri(&format!("mailto:{}", cp.email)),
            );
        }
        iri(&cid)
    });
    let description = [&c.description, &c.summary, &c.title]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    let n = g.node(&id, json!(ty));
    n.insert("dct:identifier".into(), Value::String(c.identifier.clone()));
    n.insert("dct:title".into(), lit(&c.title));
    n.insert("dct:description".into(), lit(&description));
    n.insert("dct:publisher".into(), publisher);
    n.insert("dcat:landingPage".into(), iri(&landing));
    if !c.keyword.is_empty() {
        n.insert(
            "dcat:keyword".into(),
            Value::Array(c.keyword.iter().map(|k| lit(k)).collect()),
        );
    }
    if !themes.is_empty() {
        n.insert("dcat:theme".into(), Value::Array(themes));
    }
    if !places.is_empty() {
        n.insert("dct:spatial".into(), Value::Array(places));
    }
    if let Some(r) = rights {
        n.insert("dct:accessRights".into(), r);
    }
    if let Some(cp) = contact {
        n.insert("dcat:contactPoint".into(), cp);
    }
    if let Some(d) = date(&c.issued) {
        n.insert("dct:issued".into(), d);
    }
    if let Some(d) = date(&c.modified) {
        n.insert("dct:modified".into(), d);
    }
    if !c.version.is_empty() {
        n.insert("dcat:version".into(), Value::String(c.version.clone()));
    }
    if ty == "dcat:DataService" {
        n.insert("dct:license".into(), licence);
    }
    Some(id)
}

fn service(g: &mut Graph, cat: &Catalogue, item: &Item, s: &v1::Service) -> Option<String> {
    let id = common(g, cat, item, "dcat:DataService")?;
    // DCAT-AP requires an endpoint URL; a manifest may give only the description's.
    let landing = format!("{}/manifests/{}", cat.base, item.id);
    let endpoint = [&s.endpoint_url, &s.endpoint_description]
        .into_iter()
        .find(|u| is_url(u))
        .cloned()
        .unwrap_or(landing);
    let endpoint = g.resource_url(&endpoint);
    let description =
        is_url(&s.endpoint_description).then(|| g.resource_url(&s.endpoint_description));
    let standards: Vec<Value> = s
        .local
        .iter()
        .flat_map(|l| l.standards.iter())
        .map(|st| g.standard(cat.base, st))
        .collect();
    let n = g.node(&id, json!("dcat:DataService"));
    n.insert("dcat:endpointURL".into(), endpoint);
    if let Some(d) = description {
        n.insert("dcat:endpointDescription".into(), d);
    }
    if !standards.is_empty() {
        n.insert("dct:conformsTo".into(), Value::Array(standards));
    }
    Some(id)
}

fn dataset(g: &mut Graph, cat: &Catalogue, item: &Item, d: &v1::Dataset) -> Option<String> {
    let id = common(g, cat, item, "dcat:Dataset")?;
    let c = d.common.as_ref()?;
    let landing = format!("{}/manifests/{}", cat.base, item.id);
    let mut dists = vec![];
    for (i, x) in d.distribution.iter().enumerate() {
        let did = format!("{id}/distributions/{}", i + 1);
        let access = [&x.download_url, &x.identifier]
            .into_iter()
            .find(|u| is_url(u))
            .cloned()
            .unwrap_or_else(|| landing.clone());
        let access = g.resource_url(&access);
        let download = is_url(&x.download_url).then(|| g.resource_url(&x.download_url));
        let licence = g.licence(
            cat.base,
            if x.licence.is_empty() {
                &c.licence
            } else {
                &x.licence
            },
        );
        let media = x
            .media_type
            .split_once('/')
            .is_some_and(|(t, st)| {
                let token = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!$&^_.+-".contains(&b))
                };
                token(t) && token(st)
            })
            .then(|| {
                let mid = format!(
                    "https://www.iana.org/assignments/media-types/{}",
                    x.media_type
                );
                g.node(&mid, json!("dct:MediaType"));
                iri(&mid)
            });
        let format = file_type(&x.media_type).map(|code| {
            g.eu(
                "file-type",
                code,
                code,
                "dct:MediaTypeOrExtent",
                "File type",
            )
        });
        let n = g.node(&did, json!("dcat:Distribution"));
        let title = if x.title.is_empty() {
            &c.title
        } else {
            &x.title
        };
        n.insert("dct:title".into(), lit(title));
        if !x.description.is_empty() {
            n.insert("dct:description".into(), lit(&x.description));
        }
        n.insert("dcat:accessURL".into(), access);
        if let Some(u) = download {
            n.insert("dcat:downloadURL".into(), u);
        }
        n.insert("dct:license".into(), licence);
        if let Some(m) = media {
            n.insert("dcat:mediaType".into(), m);
        }
        if let Some(f) = format {
            n.insert("dct:format".into(), f);
        }
        if x.byte_size > 0 {
            n.insert(
                "dcat:byteSize".into(),
                typed(&x.byte_size.to_string(), "xsd:nonNegativeInteger"),
            );
        }
        if let Some(v) = date(&x.issued) {
            n.insert("dct:issued".into(), v);
        }
        if let Some(v) = date(&x.modified) {
            n.insert("dct:modified".into(), v);
        }
        dists.push(iri(&did));
    }
    let mut standards: Vec<Value> = d
        .conforms_to
        .iter()
        .chain(d.local.iter().flat_map(|l| l.standards.iter()))
        .map(|st| g.standard(cat.base, st))
        .collect();
    standards.dedup();
    let freq = frequency(g, d.update_frequency);
    let temporal = (!d.temporal_start.is_empty() || !d.temporal_end.is_empty()).then(|| {
        let tid = format!("{id}#temporal");
        let n = g.node(&tid, json!("dct:PeriodOfTime"));
        if let Some(v) = date(&d.temporal_start) {
            n.insert("dcat:startDate".into(), v);
        }
        if let Some(v) = date(&d.temporal_end) {
            n.insert("dcat:endDate".into(), v);
        }
        iri(&tid)
    });
    let n = g.node(&id, json!("dcat:Dataset"));
    if !dists.is_empty() {
        n.insert("dcat:distribution".into(), Value::Array(dists));
    }
    if !standards.is_empty() {
        n.insert("dct:conformsTo".into(), Value::Array(standards));
    }
    if let Some(f) = freq {
        n.insert("dct:accrualPeriodicity".into(), f);
    }
    if let Some(t) = temporal {
        n.insert("dct:temporal".into(), t);
    }
    Some(id)
}

/// The JSON-LD document of `items` (services and datasets; anything else is left out).
pub fn document(cat: &Catalogue, items: &[Item]) -> Value {
    let mut g = Graph {
        nodes: BTreeMap::new(),
    };
    let mut datasets = vec![];
    let mut services = vec![];
    for item in items {
        match &item.body.kind {
            Some(Kind::Service(s)) => {
                services.extend(service(&mut g, cat, item, s).map(|i| iri(&i)))
            }
            Some(Kind::Dataset(d)) => {
                datasets.extend(dataset(&mut g, cat, item, d).map(|i| iri(&i)))
            }
            _ => {}
        }
    }
    let catalog = format!("{}/catalog", cat.base);
    let home = format!("{}/", cat.base);
    g.node(&home, json!("foaf:Document"));
    let publisher = g.agent(cat.base, &cat.publisher, "lgmesh node");
    let language = g.eu(
        "language",
        "ENG",
        "English",
        "dct:LinguisticSystem",
        "Language",
    );
    let licence = g.licence(cat.base, OGL);
    let c = g.node(&catalog, json!("dcat:Catalog"));
    c.insert(
        "dct:title".into(),
        lit(&format!(
            "lgmesh federation catalogue ({})",
            cat.publisher.name
        )),
    );
    c.insert(
        "dct:description".into(),
        lit(&format!(
            "Every live service and dataset in the lgmesh federation of UK councils, as this node holds it: {} in all.",
            cat.total,
        )),
    );
    c.insert("dct:publisher".into(), publisher);
    c.insert("foaf:homepage".into(), iri(&home));
    c.insert("dct:language".into(), language);
    c.insert("dct:license".into(), licence);
    c.insert("dct:modified".into(), typed(&cat.modified, "xsd:dateTime"));
    if !datasets.is_empty() {
        c.insert("dcat:dataset".into(), Value::Array(datasets));
    }
    if !services.is_empty() {
        c.insert("dcat:service".into(), Value::Array(services));
    }
    if cat.pages > 1 {
        let page = |n: usize| format!("{}/catalog.jsonld?page={n}", cat.base);
        let this = page(cat.page);
        let p = g.node(&this, json!("hydra:PagedCollection"));
        p.insert(
            "hydra:totalItems".into(),
            typed(&cat.total.to_string(), "xsd:integer"),
        );
        p.insert(
            "hydra:itemsPerPage".into(),
            typed(&PAGE.to_string(), "xsd:integer"),
        );
        p.insert("hydra:firstPage".into(), Value::String(page(1)));
        p.insert("hydra:lastPage".into(), Value::String(page(cat.pages)));
        if cat.page > 1 {
            p.insert(
                "hydra:previousPage".into(),
                Value::String(page(cat.page - 1)),
            );
        }
        if cat.page < cat.pages {
            p.insert("hydra:nextPage".into(), Value::String(page(cat.page + 1)));
        }
    }
    json!({
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "vcard": "http://www.w3.org/2006/vcard/ns#",
            "skos": "http://www.w3.org/2004/02/skos/core#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "hydra": "http://www.w3.org/ns/hydra/core#",
        },
        "@graph": g.nodes.into_values().map(Value::Object).collect::<Vec<_>>(),
    })
}

/// Merges pages of [`document`] into one: nodes by `@id` once, the catalogue's datasets
/// and services together, the paging left out.
pub fn merge(pages: Vec<Value>) -> Value {
    let mut context = Value::Null;
    let mut nodes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for page in pages {
        let Value::Object(mut p) = page else { continue };
        if let Some(c) = p.remove("@context") {
            context = c;
        }
        let Some(Value::Array(graph)) = p.remove("@graph") else {
            continue;
        };
        for n in graph {
            let Value::Object(n) = n else { continue };
            if n.get("@type") == Some(&json!("hydra:PagedCollection")) {
                continue;
            }
            // A paged catalogue's nodes are typed the same on every page.
            let Some(id) = n.get("@id").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            match nodes.get_mut(&id) {
                Some(old) if n.get("@type") == Some(&json!("dcat:Catalog")) => {
                    for key in ["dcat:dataset", "dcat:service"] {
                        if let Some(Value::Array(more)) = n.get(key) {
                            let list = old.entry(key).or_insert_with(|| json!([]));
                            if let Value::Array(l) = list {
                                l.extend(more.iter().cloned());
                            }
                        }
                    }
                }
                Some(_) => {}
                None => {
                    nodes.insert(id, n);
                }
            }
        }
    }
    json!({
        "@context": context,
        "@graph": nodes.into_values().map(Value::Object).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_that_are_valid_iris_become_nodes() {
        assert!(is_url("https://www.openreferraluk.org/"));
        assert!(is_url("https://api.example.gov.uk/x?a=1&b=2#top"));
        for bad in [
            "https://evil.example/x[y]#a#b",
            "https://a.example/\"<b>",
            "https://a.example/{z}",
            "javascript:alert(1)",
            "https://a example/",
            "http://",
        ] {
            assert!(!is_url(bad), "{bad}");
        }
    }

    #[test]
    fn a_node_given_two_types_keeps_both() {
        let mut g = Graph {
            nodes: BTreeMap::new(),
        };
        let url = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/";
        g.resource_url(url);
        g.licence("http://x", url);
        let types = g.nodes[url]["@type"].clone();
        assert_eq!(types, json!(["rdfs:Resource", "dct:LicenseDocument"]));
    }
}
