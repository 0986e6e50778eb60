//! The record of a node's domain checks of one key, as the store keeps it.

/// What this node last found at a key's organisation's website: the record of its
/// domain checks. Local to the node, never gossiped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainProof {
    /// The website checked, from the key's org card.
    pub website: String,
    /// The organisation the card claimed when it was checked.
    pub org_id: String,
    /// The host whose `/.well-known/lgmesh.json` listed the key, when it did.
    pub host: String,
    /// When it was last checked (Unix ms).
    pub checked_at: u64,
    /// When the website last listed the key (Unix ms); 0 if never.
    pub proven_at: u64,
    /// The proof counts until this time (Unix ms); 0 when it does not count.
    pub valid_until: u64,
    /// What the last check found, as a short code: `proven`, `not_listed`, `unreachable`…
    pub result: String,
    /// What the last check found, for people.
    pub detail: String,
    /// The host is under the claimed organisation's official domain (a council's own,
    /// as this node knows them): then the key may vouch for others.
    pub official: bool,
}

impl DomainProof {
    /// Bytes for the store: three u64s, five length-prefixed strings, then whether the
    /// host is official (one byte; absent in records of older releases: not official).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(64 + self.website.len() + self.detail.len());
        for n in [self.valid_until, self.checked_at, self.proven_at] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        for s in [
            &self.website,
            &self.org_id,
            &self.host,
            &self.result,
            &self.detail,
        ] {
            let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
            v.extend_from_slice(&(b.len() as u16).to_be_bytes());
            v.extend_from_slice(b);
        }
        v.push(u8::from(self.official));
        v
    }

    /// Reads [`DomainProof::encode`]'s bytes; `None` when they are not that.
    pub fn decode(mut v: &[u8]) -> Option<DomainProof> {
        let mut u64s = [0u64; 3];
        for n in &mut u64s {
            let (head, rest) = v.split_first_chunk::<8>()?;
            *n = u64::from_be_bytes(*head);
            v = rest;
        }
        let mut strs: [String; 5] = Default::default();
        for s in &mut strs {
            let (len, rest) = v.split_first_chunk::<2>()?;
            let len = u16::from_be_bytes(*len) as usize;
            let b = rest.get(..len)?;
            *s = String::from_utf8_lossy(b).into_owned();
            v = &rest[len..];
        }
        let [website, org_id, host, result, detail] = strs;
        let official = match v {
            [] => false,
            [b] => *b == 1,
            _ => return None,
        };
        Some(DomainProof {
            official,
            website,
            org_id,
            host,
            valid_until: u64s[0],
            checked_at: u64s[1],
            proven_at: u64s[2],
            result,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_proof_records_round_trip_and_garbage_is_refused() {
        let p = DomainProof {
            website: "https://www.guildford.gov.uk/".into(),
            org_id: "gss:E07000209".into(),
            host: "www.guildford.gov.uk".into(),
            checked_at: 5,
            proven_at: 4,
            valid_until: 9,
            result: "proven".into(),
            detail: "listed\0 here".into(),
            official: true,
        };
        assert_eq!(DomainProof::decode(&p.encode()), Some(p.clone()));
        let bytes = p.encode();
        // Every cut short of the whole is refused, but the last byte: records of older
        // releases end before it (and are read as not official).
        for cut in 0..bytes.len() - 1 {
            assert_eq!(DomainProof::decode(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
