//! The command-line description of a simulated device: `UNIT=PROFILE[:option,option...]`.

use std::time::Duration;

use collector::settings::HumanDuration;

/// Faults a device injects into its answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Share of requests answered with exception 04 (server device failure).
    pub exception_rate: f64,
    /// Share of requests answered late, and how late.
    pub slow: Option<(Duration, f64)>,
    /// Never answers (a dead meter behind a gateway).
    pub dead: bool,
}

/// One simulated device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub unit: u8,
    pub profile: String,
    /// Mean rate: kW, m3/h or t/h by medium; chosen from the seed when absent.
    pub rated: Option<f64>,
    pub rollover: bool,
    pub holes: bool,
    pub faults: Faults,
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;

    /// Parses `3=eastron_sdm630:rated=120,exceptions=0.2,slow=800ms@0.1,dead,rollover,holes`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (unit, rest) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected UNIT=PROFILE[:options]"))?;
        let unit: u8 = unit.parse().map_err(|_| format!("{s:?}: unit id {unit:?} is not 0-255"))?;
        let (profile, options) = rest.split_once(':').unwrap_or((rest, ""));
        let mut spec = DeviceSpec {
            unit,
            profile: profile.to_owned(),
            rated: None,
            rollover: false,
            holes: false,
            faults: Faults::default(),
        };
        let rate = |v: &str| -> Result<f64, String> {
            v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| format!("{s:?}: {v:?} is not a share between 0 and 1"))
        };
        for opt in options.split(',').filter(|o| !o.is_empty()) {
            let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
            match key {
                "rated" => spec.rated = Some(value.parse().map_err(|_| format!("{s:?}: rated {value:?} is not a number"))?),
                "exceptions" => spec.faults.exception_rate = rate(value)?,
                "slow" => {
                    let (d, p) = value.split_once('@').ok_or_else(|| format!("{s:?}: slow takes DURATION@SHARE, e.g. slow=800ms@0.1"))?;
                    spec.faults.slow = Some((HumanDuration::parse(d).map_err(|e| format!("{s:?}: {e}"))?.0, rate(p)?));
                }
                "dead" => spec.faults.dead = true,
                "rollover" => spec.rollover = true,
                "holes" => spec.holes = true,
                other => return Err(format!("{s:?}: unknown option {other:?} (rated, exceptions, slow, dead, rollover, holes)")),
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_device_specs() {
        let d: DeviceSpec = "3=tuf2000m:exceptions=0.25,slow=800ms@0.1,rollover".parse().unwrap();
        assert_eq!(d.unit, 3);
        assert_eq!(d.profile, "tuf2000m");
        assert_eq!(d.faults.exception_rate, 0.25);
        assert_eq!(d.faults.slow, Some((Duration::from_millis(800), 0.1)));
        assert!(d.rollover && !d.faults.dead);
        assert!("x=tuf2000m".parse::<DeviceSpec>().is_err());
        assert!("1=tuf2000m:exceptions=2".parse::<DeviceSpec>().is_err());
    }
}
