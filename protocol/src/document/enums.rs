//! The model's enumerations: their labels as documents spell them, and their numbers on
//! the wire.

pub(super) const SERVICE_TYPES: &[(&str, i32)] = &[("EVENT", 1), ("REST", 2), ("SOAP", 3)];
pub(super) const SERVICE_STATUSES: &[(&str, i32)] = &[
    ("DISCOVERY", 1),
    ("ALPHA", 2),
    ("BETA", 3),
    ("PRIVATE_BETA", 4),
    ("PUBLIC_BETA", 5),
    ("LIVE", 6),
    ("DEPRECATED", 7),
    ("WITHDRAWN", 8),
];
pub(super) const ACCESS_RIGHTS: &[(&str, i32)] = &[("INTERNAL", 1), ("OPEN", 2), ("COMMERCIAL", 3)];
pub(super) const SECURITY: &[(&str, i32)] = &[
    ("OFFICIAL", 1),
    ("SECRET", 2),
    ("TOP_SECRET", 3),
    ("NOT_APPLICABLE", 4),
];
pub(super) const COST_MODELS: &[(&str, i32)] =
    &[("FREE", 1), ("COST_RECOVERY", 2), ("SUBSCRIPTION", 3)];
/// The model's FrequencyValues, without the `freq:` prefix, in enum order.
pub const FREQUENCIES: &[&str] = &[
    "triennial",
    "biennial",
    "annual",
    "semiannual",
    "threeTimesAYear",
    "quarterly",
    "bimonthly",
    "monthly",
    "semimonthly",
    "biweekly",
    "threeTimesAMonth",
    "weekly",
    "semiweekly",
    "threeTimesAWeek",
    "daily",
    "continuous",
    "irregular",
];

/// The text name of an enum value (`LIVE`), for display and export.
pub fn enum_label(table: EnumTable, v: i32) -> &'static str {
    let t: &[(&str, i32)] = match table {
        EnumTable::ServiceType => SERVICE_TYPES,
        EnumTable::ServiceStatus => SERVICE_STATUSES,
        EnumTable::AccessRights => ACCESS_RIGHTS,
        EnumTable::Security => SECURITY,
        EnumTable::CostModel => COST_MODELS,
        EnumTable::Frequency => {
            return usize::try_from(v - 1)
                .ok()
                .and_then(|i| FREQUENCIES.get(i))
                .copied()
                .unwrap_or("");
        }
    };
    t.iter()
        .find(|(_, n)| *n == v)
        .map(|(s, _)| *s)
        .unwrap_or("")
}

/// Which enumeration, for [`enum_label`] and [`enum_value`].
#[derive(Debug, Clone, Copy)]
pub enum EnumTable {
    /// serviceType
    ServiceType,
    /// serviceStatus
    ServiceStatus,
    /// accessRights
    AccessRights,
    /// securityClassification
    Security,
    /// costModel
    CostModel,
    /// updateFrequency
    Frequency,
}

/// The numeric value of an enum label (`LIVE` → 6), if it is one.
pub fn enum_value(table: EnumTable, label: &str) -> Option<i32> {
    (1..=17).find(|v| enum_label(table, *v) == label)
}
