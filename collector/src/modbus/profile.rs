//! Meter profiles: register maps as data, validated into points the poller can plan and decode.

use std::collections::HashMap;
use std::path::Path;

use readings::{Kind, Medium, Quantity, Unit};
use serde::Deserialize;

use super::register::{DataType, RegisterFunction, WordOrder};
use crate::settings::{parse_toml, ConfigError};

/// Profiles shipped in the binary; their text lives in `config/profiles/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("eastron_sdm630", include_str!("../../../config/profiles/eastron_sdm630.toml")),
    ("chint_dtsu666", include_str!("../../../config/profiles/chint_dtsu666.toml")),
    ("acrel_adw300", include_str!("../../../config/profiles/acrel_adw300.toml")),
    ("schneider_iem3000", include_str!("../../../config/profiles/schneider_iem3000.toml")),
    ("tuf2000m", include_str!("../../../config/profiles/tuf2000m.toml")),
    ("generic_vortex_steam", include_str!("../../../config/profiles/generic_vortex_steam.toml")),
];

/// How a scale register changes a point's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMode {
    /// value x 10^(register + exponent_offset), as SunSpec scale factors and flow-meter multipliers.
    Pow10,
    /// value x register, as CT and PT ratio registers.
    Multiply,
}

/// A point's scale read from another register in the same cycle.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleFromSpec {
    pub register: String,
    pub mode: ScaleMode,
    #[serde(default)]
    pub exponent_offset: i32,
}

/// A measured point as written in a profile or a device's config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSpec {
    pub name: String,
    pub quantity: Quantity,
    pub medium: Option<Medium>,
    pub kind: Kind,
    pub function: RegisterFunction,
    pub address: u16,
    #[serde(rename = "type")]
    pub data_type: DataType,
    #[serde(default)]
    pub order: WordOrder,
    pub scale: Option<f64>,
    pub offset: Option<f64>,
    /// The unit of `raw x scale + offset`; converted into the quantity's canonical unit.
    pub unit: Unit,
    pub scale_from: Option<ScaleFromSpec>,
    /// Plausible range in `unit`; a value outside it is stored with quality out_of_range.
    pub valid_min: Option<f64>,
    pub valid_max: Option<f64>,
}

/// A register that holds another point's scale; read, never stored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleRegisterSpec {
    pub name: String,
    pub function: RegisterFunction,
    pub address: u16,
    #[serde(rename = "type")]
    pub data_type: DataType,
    #[serde(default)]
    pub order: WordOrder,
}

/// Where a value sits on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub function: RegisterFunction,
    pub address: u16,
    pub data_type: DataType,
    pub order: WordOrder,
}

impl Location {
    /// One past the last register the value occupies.
    pub fn end(&self) -> u32 {
        u32::from(self.address) + u32::from(self.data_type.words())
    }
}

/// A validated point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    pub quantity: Quantity,
    pub medium: Medium,
    pub kind: Kind,
    pub location: Location,
    pub scale: f64,
    pub offset: f64,
    pub unit: Unit,
    /// Index into the map's scale registers, mode and exponent offset.
    pub scale_from: Option<(usize, ScaleMode, i32)>,
    pub valid: (Option<f64>, Option<f64>),
}

/// A validated scale register.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleRegister {
    pub name: String,
    pub location: Location,
}

/// Points and scale registers of one device.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegisterMap {
    pub points: Vec<Point>,
    pub scale_registers: Vec<ScaleRegister>,
}

/// Descriptive header of a profile file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileMeta {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub medium: Medium,
    pub source: String,
    #[serde(default)]
    pub verified: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: ProfileMeta,
    #[serde(default)]
    scale_registers: Vec<ScaleRegisterSpec>,
    points: Vec<PointSpec>,
}

/// A meter model's register map.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub meta: ProfileMeta,
    pub map: RegisterMap,
}

impl Profile {
    /// Parses and validates a profile; `file` names it in errors, `stem` is the name it must carry.
    pub fn parse(file: &str, stem: &str, text: &str) -> Result<Profile, Vec<ConfigError>> {
        let raw: ProfileFile = parse_toml(file, text).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if raw.profile.name != stem {
            errors.push(ConfigError::new(
                file,
                "profile.name",
                format!("is {:?} but the file is named {stem:?}; they must match", raw.profile.name),
            ));
        }
        let map = RegisterMap::build(file, "", Some(raw.profile.medium), &raw.points, &raw.scale_registers)
            .unwrap_or_else(|e| {
                errors.extend(e);
                RegisterMap::default()
            });
        if errors.is_empty() {
            Ok(Profile { meta: raw.profile, map })
        } else {
            Err(errors)
        }
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Result<Profile, Vec<ConfigError>>> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(n, text)| {
            Profile::parse(&format!("built-in profile {n} (config/profiles/{n}.toml)"), n, text)
        })
    }

    /// A profile from `dir/<name>.toml`, if that file exists.
    pub fn from_dir(dir: &Path, name: &str) -> Option<Result<Profile, Vec<ConfigError>>> {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).ok()?;
        Some(Profile::parse(&path.display().to_string(), name, &text))
    }
}


impl RegisterMap {
    /// Validates point and scale-register specs; `prefix` is the key path they sit under.
    pub fn build(
        file: &str,
        prefix: &str,
        default_medium: Option<Medium>,
        points: &[PointSpec],
        scale_registers: &[ScaleRegisterSpec],
    ) -> Result<RegisterMap, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut err = |key: String, msg: String| errors.push(ConfigError::new(file, key, msg));
        let mut names: HashMap<&str, String> = HashMap::new();
        let mut regs = Vec::new();

        for (i, s) in scale_registers.iter().enumerate() {
            let key = format!("{prefix}scale_registers[{i}]");
            if let Some(first) = names.insert(&s.name, key.clone()) {
                err(format!("{key}.name"), format!("{:?} is already used by {first}", s.name));
            }
            if !s.data_type.is_integer() {
                err(format!("{key}.type"), format!("is {}; a scale register must be an integer type", s.data_type));
            }
            let location = Location { function: s.function, address: s.address, data_type: s.data_type, order: s.order };
            if location.end() > 0x1_0000 {
                err(format!("{key}.address"), format!("{} + {} registers runs past 65535", s.address, s.data_type.words()));
            }
            regs.push(ScaleRegister { name: s.name.clone(), location });
        }

        let mut out = Vec::new();
        let mut series: HashMap<(Medium, Quantity), String> = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            let key = format!("{prefix}points[{i}]");
            if let Some(first) = names.insert(&p.name, key.clone()) {
                err(format!("{key}.name"), format!("{:?} is already used by {first}", p.name));
            }
            let Some(medium) = p.medium.or(default_medium) else {
                err(format!("{key}.medium"), "is missing and the device has no default medium".into());
                continue;
            };
            if let Some(first) = series.insert((medium, p.quantity), key.clone()) {
                err(format!("{key}.quantity"), format!("{medium} {} is already measured by {first}", p.quantity));
            }
            let canonical = p.quantity.canonical_unit();
            if p.unit.dimension() != canonical.dimension() {
                err(
                    format!("{key}.unit"),
                    format!("{} measures {:?} but {} is stored in {canonical}", p.unit, p.unit.dimension(), p.quantity),
                );
            }
            if p.kind == Kind::Counter && !p.quantity.measure.is_cumulative() {
                err(format!("{key}.kind"), format!("is counter but {} is not a cumulative quantity; use gauge", p.quantity));
            }
            if p.kind == Kind::Gauge && p.quantity.measure.is_energy_total() {
                err(format!("{key}.kind"), format!("is gauge but {} is an energy total, which only grows; use counter (the accounts take consumption from counters)", p.quantity));
            }
            let scale = p.scale.unwrap_or(1.0);
            if !scale.is_finite() || scale == 0.0 {
                err(format!("{key}.scale"), format!("is {scale}; it must be a finite, non-zero number"));
            }
            let offset = p.offset.unwrap_or(0.0);
            if !offset.is_finite() {
                err(format!("{key}.offset"), format!("is {offset}; it must be finite"));
            }
            if let (Some(lo), Some(hi)) = (p.valid_min, p.valid_max) {
                if lo >= hi {
                    err(format!("{key}.valid_min"), format!("{lo} is not below valid_max {hi}"));
                }
            }
            let location = Location { function: p.function, address: p.address, data_type: p.data_type, order: p.order };
            if location.end() > 0x1_0000 {
                err(format!("{key}.address"), format!("{} + {} registers runs past 65535", p.address, p.data_type.words()));
            }
            let scale_from = match &p.scale_from {
                None => None,
                Some(sf) => match regs.iter().position(|r| r.name == sf.register) {
                    Some(idx) => Some((idx, sf.mode, sf.exponent_offset)),
                    None => {
                        err(
                            format!("{key}.scale_from.register"),
                            format!("{:?} is not one of this map's scale_registers", sf.register),
                        );
                        None
                    }
                },
            };
            out.push(Point {
                name: p.name.clone(),
                quantity: p.quantity,
                medium,
                kind: p.kind,
                location,
                scale,
                offset,
                unit: p.unit,
                scale_from,
                valid: (p.valid_min, p.valid_max),
            });
        }
        if points.is_empty() {
            err(format!("{prefix}points"), "is empty; a device needs at least one point".into());
        }
        if errors.is_empty() {
            Ok(RegisterMap { points: out, scale_registers: regs })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_is_valid() {
        for (name, _) in BUILTIN {
            let p = Profile::builtin(name).unwrap().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(!p.map.points.is_empty());
        }
    }

    #[test]
    fn profile_errors_name_the_key() {
        let text = r#"
[profile]
name = "x"
vendor = "v"
model = "m"
medium = "electricity"
source = "s"

[[points]]
name = "p"
quantity = "active_power"
kind = "counter"
function = "holding"
address = 65535
type = "f32"
unit = "m3"
scale_from = { register = "nope", mode = "pow10" }
"#;
        let errs = Profile::parse("x.toml", "y", text).unwrap_err();
        let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "x.toml: profile.name: is \"x\" but the file is named \"y\"; they must match",
                "x.toml: points[0].unit: m3 measures Volume but active_power is stored in kW",
                "x.toml: points[0].kind: is counter but active_power is not a cumulative quantity; use gauge",
                "x.toml: points[0].address: 65535 + 2 registers runs past 65535",
                "x.toml: points[0].scale_from.register: \"nope\" is not one of this map's scale_registers",
            ]
        );
    }
}
