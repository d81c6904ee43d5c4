//! Which built-in Modbus profile a unit found on a line reads plausibly with: for each profile,
//! a few of its gauge points whose valid range excludes zero (a frequency, a voltage: a register
//! that is not there, or reads 0, cannot pass) are read at the profile's registers and checked
//! against their ranges. A profile all of whose witnesses are plausible is proposed, with the
//! values as evidence; a person confirms it with `collector check` and a look at the console.

use std::time::Duration;

use crate::line::error::ReadError;
use crate::line::link::Link;
use crate::modbus::decode::decode;
use crate::modbus::plan::ReadRequest;
use crate::modbus::profile::{Point, Profile, BUILTIN};
use crate::modbus::read::read_registers;
use crate::normalise::point_value;
use readings::Quality;

/// Witness points read per profile, at most.
const WITNESSES: usize = 3;

/// A profile whose witnesses all read plausibly, and what they read.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub profile: String,
    /// Point name, value in its quantity's canonical unit, that unit's symbol.
    pub evidence: Vec<(String, f64, &'static str)>,
}

/// Points of `profile` fit to tell it apart: gauges with a valid range that excludes zero and a
/// scale of their own (not read from another register).
fn witnesses(profile: &Profile) -> Vec<&Point> {
    let mut points: Vec<&Point> = profile
        .map
        .points
        .iter()
        .filter(|p| p.kind == readings::Kind::Gauge && p.scale_from.is_none())
        .filter(|p| matches!(p.valid, (Some(lo), Some(hi)) if lo > 0.0 || hi < 0.0))
        .collect();
    // Frequency first: a 50 Hz reading at the right register is the strongest sign.
    points.sort_by_key(|p| p.quantity.measure != readings::Measure::Frequency);
    points.truncate(WITNESSES);
    points
}

/// The built-in profiles that read plausibly on `unit`. A transport failure ends the probe.
pub async fn identify(link: &mut Link, unit: u8, timeout: Duration) -> Result<Vec<Fit>, ReadError> {
    let mut fits = Vec::new();
    for (name, _) in BUILTIN {
        let Some(Ok(profile)) = Profile::builtin(name) else { continue };
        let points = witnesses(&profile);
        if points.is_empty() {
            continue;
        }
        let mut evidence = Vec::new();
        for p in points {
            let request = ReadRequest::single(p.location.function, p.location.address, p.location.data_type.words());
            match read_registers(link, unit, &request, timeout, Duration::ZERO).await {
                Ok(words) => {
                    let raw = decode(&words, p.location.data_type, p.location.order);
                    match point_value(p, raw, None) {
                        (Some(v), Quality::Good) => evidence.push((p.name.clone(), v, p.quantity.canonical_unit().symbol())),
                        _ => break,
                    }
                }
                Err(e @ (ReadError::Connect { .. } | ReadError::Transport(_))) => return Err(e),
                // An exception or silence: not this profile's register.
                Err(_) => break,
            }
        }
        if evidence.len() == witnesses(&profile).len() {
            fits.push(Fit { profile: (*name).to_owned(), evidence });
        }
    }
    Ok(fits)
}

impl Fit {
    /// The evidence as one line: `frequency = 50.01 Hz, voltage_l1 = 229.8 V`.
    pub fn evidence_line(&self) -> String {
        self.evidence.iter().map(|(n, v, u)| format!("{n} = {} {u}", (v * 100.0).round() / 100.0)).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_electricity_profile_has_witnesses() {
        for (name, _) in BUILTIN {
            let profile = Profile::builtin(name).unwrap().unwrap();
            let w = witnesses(&profile);
            if profile.map.points.iter().any(|p| p.quantity.measure == readings::Measure::Frequency) {
                assert!(!w.is_empty() && w[0].quantity.measure == readings::Measure::Frequency, "{name}");
            }
        }
    }
}
