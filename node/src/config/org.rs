//! `[org]`: the organisation this node speaks for.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::docs::documented;

documented! {
    /// `[org]`.
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    pub struct OrgConfig {
        /// The organisation this node speaks for, `scheme:value`: councils use `gss:` and
        /// their ONS GSS code (e.g. `gss:E07000209`); others `ch:` (Companies House),
        /// `charity:`, `gov:` (central departments) or `domain:`. `lgmesh init --org` sets
        /// it.
        pub id: String,
        /// The organisation's official name, e.g. "Guildford Borough Council".
        pub name: String,
        /// What kind of organisation it is: county, district, unitary, london-borough,
        /// metropolitan-district, scottish-council, welsh-council, ni-council,
        /// parish-town, combined-authority, third-sector, central or other.
        #[serde(rename = "type")]
        pub org_type: String,
        /// Homepage, an http(s) URL. Other nodes may check `/.well-known/lgmesh.json`
        /// there (domain proof, `[trust]`).
        pub website: String,
        /// Where people write about this organisation's manifests.
        pub contact_email: String,
        /// True only for the throwaway identity `lgmesh run` makes in an empty data dir.
        pub development: bool,
        /// An observer: the node joins the network and syncs everything, as any node, but
        /// speaks for no organisation. It needs no organisation key (`publisher.key`),
        /// publishes nothing, has no org card, and refuses every write (publish, submit,
        /// retract, endorse, adopt, need, revoke). For central bodies watching the
        /// federation. `lgmesh init --observer` makes such a data dir.
        #[flag = "observer"]
        pub observer: bool,
    }
}

/// The org type's enum value.
pub fn org_type_value(s: &str) -> Result<i32> {
    use lgmesh_protocol::v1::OrgType as T;
    Ok(match s {
        "" => T::Unspecified,
        "county" => T::County,
        "district" => T::District,
        "unitary" => T::Unitary,
        "london-borough" => T::LondonBorough,
        "metropolitan-district" => T::MetropolitanDistrict,
        "scottish-council" => T::ScottishCouncil,
        "welsh-council" => T::WelshCouncil,
        "ni-council" => T::NiCouncil,
        "parish-town" => T::ParishTown,
        "combined-authority" => T::CombinedAuthority,
        "third-sector" => T::ThirdSector,
        "central" => T::Central,
        "other" => T::Other,
        other => bail!(
            "org type: {other:?} is not one of county, district, unitary, london-borough, metropolitan-district, scottish-council, welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other"
        ),
    } as i32)
}
