//! `[org]`: the organisation this node speaks for.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// `[org]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct OrgConfig {
    /// `scheme:value`, e.g. `gss:E07000209`.
    pub id: String,
    /// Official name.
    pub name: String,
    /// county, district, unitary, london-borough, metropolitan-district, scottish-council,
    /// welsh-council, ni-council, parish-town, combined-authority, third-sector, central, other.
    #[serde(rename = "type")]
    pub org_type: String,
    /// Homepage URL.
    pub website: String,
    /// Contact email for the organisation's manifests.
    pub contact_email: String,
    /// True for the identity `lgmesh run` makes on an empty data dir.
    pub development: bool,
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
