//! DL/T 645 meter profiles: the data items (DI3..DI0) a meter model answers, each mapped to a
//! quantity, a unit, a kind and its BCD format, as data in `config/profiles/dlt645/`.

use std::path::Path;

use readings::{Kind, Medium, Quantity, Unit};
use serde::Deserialize;

use super::codec::Edition;
use super::value::Format;
use crate::settings::{parse_toml, ConfigError};

/// Profiles shipped in the binary; their text lives in `config/profiles/dlt645/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("dlt645_generic_3phase", include_str!("../../../config/profiles/dlt645/generic_3phase.toml")),
    ("chint_dtsu666_dlt645", include_str!("../../../config/profiles/dlt645/chint_dtsu666.toml")),
    ("dlt645_1997_generic", include_str!("../../../config/profiles/dlt645/generic_1997.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: Meta,
    items: Vec<ItemSpec>,
}

/// Who made the meter, and where its items come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    pub vendor: String,
    pub model: String,
    /// `dlt645-2007`, or `dlt645-1997` for older meters (two-byte identifiers, control 01H).
    pub protocol: String,
    pub medium: Medium,
    pub source: String,
    pub verified: bool,
    /// How many daily freezes (05 06 ...) the meter keeps, up to 62; 0 when it keeps none or
    /// nobody checked. Each energy total is then also backfilled day by day.
    #[serde(default)]
    pub daily_freezes: u8,
}

/// One data item as written in a profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemSpec {
    name: String,
    /// DI3 DI2 DI1 DI0 as 8 hex digits, most significant first, as the standard writes them
    /// (1997: DI1 DI0, 4 hex digits, e.g. `9010`).
    di: String,
    quantity: Quantity,
    kind: Kind,
    unit: Unit,
    /// The BCD layout, as the standard writes it: `XXXXXX.XX`, `XXX.X`, ...; `±` first for a
    /// signed item (its top bit is the sign).
    format: String,
}

/// A validated data item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    /// The identifier: four bytes in the 2007 edition, two (below 10000H) in 1997's.
    pub di: u32,
    pub edition: Edition,
    pub quantity: Quantity,
    pub medium: Medium,
    pub kind: Kind,
    pub unit: Unit,
    pub format: Format,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub meta: Meta,
    pub items: Vec<Item>,
}

impl Profile {
    /// Parses and validates profile `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Profile, Vec<ConfigError>> {
        let raw: ProfileFile = parse_toml(file, text).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let edition = match raw.profile.protocol.as_str() {
            "dlt645-2007" => Edition::V2007,
            "dlt645-1997" => Edition::V1997,
            other => {
                errors.push(ConfigError::new(file, "profile.protocol", format!("{other:?} is not supported; write \"dlt645-2007\" or \"dlt645-1997\"")));
                Edition::V2007
            }
        };
        if raw.profile.daily_freezes > super::codec::DAILY_FREEZES_KEPT {
            errors.push(ConfigError::new(file, "profile.daily_freezes", format!("is {}; DL/T 645-2007 meters keep at most {} daily freezes", raw.profile.daily_freezes, super::codec::DAILY_FREEZES_KEPT)));
        }
        if raw.profile.daily_freezes > 0 && edition == Edition::V1997 {
            errors.push(ConfigError::new(file, "profile.daily_freezes", "daily freezes are read by DL/T 645-2007 identifiers; a 1997 meter has none to read"));
        }
        let di_digits = if edition == Edition::V1997 { 4 } else { 8 };
        let mut items = Vec::new();
        for (i, s) in raw.items.iter().enumerate() {
            let key = |k: &str| format!("items[{i}].{k}");
            let di = match u32::from_str_radix(&s.di, 16) {
                Ok(di) if s.di.len() == di_digits => Some(di),
                _ => {
                    let example = if edition == Edition::V1997 { "4 hex digits, DI1 first, e.g. \"9010\"" } else { "8 hex digits, DI3 first, e.g. \"00010000\"" };
                    errors.push(ConfigError::new(file, key("di"), format!("{:?} is not a data identifier of this edition; write its {example}", s.di)));
                    None
                }
            };
            let format = match s.format.parse::<Format>() {
                Ok(f) => Some(f),
                Err(e) => {
                    errors.push(ConfigError::new(file, key("format"), e.to_string()));
                    None
                }
            };
            if s.unit.dimension() != s.quantity.canonical_unit().dimension() {
                errors.push(ConfigError::new(file, key("unit"), format!("{} measures {:?} but {} is stored in {}", s.unit, s.unit.dimension(), s.quantity, s.quantity.canonical_unit())));
            }
            if s.kind == Kind::Counter && !s.quantity.measure.is_cumulative() {
                errors.push(ConfigError::new(file, key("kind"), format!("is counter but {} is not a cumulative quantity; use gauge", s.quantity)));
            }
            if s.kind == Kind::Gauge && s.quantity.measure.is_energy_total() {
                errors.push(ConfigError::new(file, key("kind"), format!("is gauge but {} is an energy total; use counter", s.quantity)));
            }
            if raw.items[..i].iter().any(|o| o.name == s.name) {
                errors.push(ConfigError::new(file, key("name"), format!("{:?} names two items", s.name)));
            }
            if let (Some(di), Some(format)) = (di, format) {
                items.push(Item { name: s.name.clone(), di, edition, quantity: s.quantity, medium: raw.profile.medium, kind: s.kind, unit: s.unit, format });
            }
        }
        if raw.items.is_empty() {
            errors.push(ConfigError::new(file, "items", "is empty; list the data items to read"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Profile { meta: raw.profile, items })
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Result<Profile, Vec<ConfigError>>> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(n, text)| Profile::parse(&format!("built-in profile {n} (config/profiles/dlt645/)"), text))
    }

    /// A profile from `dir/<name>.toml`, if that file exists.
    pub fn from_dir(dir: &Path, name: &str) -> Option<Result<Profile, Vec<ConfigError>>> {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).ok()?;
        Some(Profile::parse(&path.display().to_string(), &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_is_valid() {
        for (name, _) in BUILTIN {
            let p = Profile::builtin(name).unwrap().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(&p.meta.name, name);
            assert!(p.items.iter().any(|i| matches!(i.di, 0x0001_0000 | 0x9010) && i.kind == Kind::Counter), "{name} reads forward active energy");
        }
    }

    #[test]
    fn item_problems_name_the_key() {
        let text = "[profile]\nname = \"x\"\nvendor = \"v\"\nmodel = \"m\"\nprotocol = \"dlt645-2007\"\nmedium = \"electricity\"\nsource = \"s\"\nverified = false\n\
                    [[items]]\nname = \"p\"\ndi = \"0203\"\nquantity = \"active_power\"\nkind = \"counter\"\nunit = \"kW\"\nformat = \"±XX.XXXX\"\n";
        let errs = Profile::parse("x.toml", text).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text[0].starts_with("x.toml: items[0].di: \"0203\" is not a data identifier"), "{text:?}");
        assert!(text[1].starts_with("x.toml: items[0].kind: is counter but active_power"), "{text:?}");
    }
}
