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

/// A simulated DL/T 645-2007 meter: `ADDRESS=PROFILE[:options]` (`--dlt645`).
#[derive(Debug, Clone, PartialEq)]
pub struct Dlt645Spec {
    /// The nameplate address, 12 digits.
    pub address: collector::dlt645::codec::MeterAddress,
    /// A collector DL/T 645 profile (built-in or from `--profiles-dir`).
    pub profile: String,
    /// Mean load, kW; chosen from the seed when absent.
    pub rated: Option<f64>,
    pub faults: Faults,
}

/// A simulated CJ/T 188 meter: `TYPE:ADDRESS[:options]` (`--cjt188`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cjt188Spec {
    pub meter_type: collector::cjt188::codec::MeterType,
    /// The nameplate address, 14 digits.
    pub address: collector::cjt188::codec::Address,
    /// Mean rate: m3/h, or kW for a heat meter; chosen from the seed when absent.
    pub rated: Option<f64>,
    pub faults: Faults,
}

/// The options of a DL/T 645 or CJ/T 188 meter: rated=N, exceptions=SHARE,
/// slow=DURATION@SHARE, dead.
fn protocol_options(s: &str, options: &str) -> Result<(Option<f64>, Faults), String> {
    let mut rated = None;
    let mut faults = Faults::default();
    let rate = |v: &str| -> Result<f64, String> {
        v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| format!("{s:?}: {v:?} is not a share between 0 and 1"))
    };
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "rated" => rated = Some(value.parse::<f64>().ok().filter(|r| *r > 0.0).ok_or_else(|| format!("{s:?}: rated {value:?} is not a positive number"))?),
            "exceptions" => faults.exception_rate = rate(value)?,
            "slow" => {
                let (d, p) = value.split_once('@').ok_or_else(|| format!("{s:?}: slow takes DURATION@SHARE, e.g. slow=800ms@0.1"))?;
                faults.slow = Some((HumanDuration::parse(d).map_err(|e| format!("{s:?}: {e}"))?.0, rate(p)?));
            }
            "dead" => faults.dead = true,
            other => return Err(format!("{s:?}: unknown option {other:?} (rated, exceptions, slow, dead)")),
        }
    }
    Ok((rated, faults))
}

impl std::str::FromStr for Dlt645Spec {
    type Err = String;

    /// Parses `000012345678=dlt645_generic_3phase:rated=5,exceptions=0.1,slow=800ms@0.1,dead`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (address, rest) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected ADDRESS=PROFILE[:options]"))?;
        let address = address.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let (profile, options) = rest.split_once(':').unwrap_or((rest, ""));
        let (rated, faults) = protocol_options(s, options)?;
        Ok(Self { address, profile: profile.to_owned(), rated, faults })
    }
}

impl std::str::FromStr for Cjt188Spec {
    type Err = String;

    /// Parses `cold_water:00000000000001:rated=2,exceptions=0.1,slow=800ms@0.1,dead`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let type_name = parts.next().unwrap_or_default();
        let meter_type = crate::cjt188::type_by_name(type_name).ok_or_else(|| {
            format!("{s:?}: unknown meter type {type_name:?} (cold_water, hot_water, drinking_water, reclaimed_water, heat, cooling, heat_and_cooling, gas)")
        })?;
        let address = parts.next().ok_or_else(|| format!("{s:?}: expected TYPE:ADDRESS[:options]"))?;
        let address = address.parse().map_err(|e| format!("{s:?}: {e}"))?;
        let (rated, faults) = protocol_options(s, parts.next().unwrap_or(""))?;
        Ok(Self { meter_type, address, rated, faults })
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

    #[test]
    fn parse_protocol_meter_specs() {
        let d: Dlt645Spec = "000012345678=dlt645_generic_3phase:exceptions=0.25,dead".parse().unwrap();
        assert_eq!((d.address.to_string().as_str(), d.profile.as_str()), ("000012345678", "dlt645_generic_3phase"));
        assert!(d.faults.dead && d.faults.exception_rate == 0.25);
        assert!("12345678=dlt645_generic_3phase".parse::<Dlt645Spec>().is_err());
        let c: Cjt188Spec = "heat:00000000000002:rated=12,slow=1s@0.5".parse().unwrap();
        assert_eq!((c.meter_type, c.rated), (collector::cjt188::codec::MeterType::Heat, Some(12.0)));
        assert!("steam:00000000000002".parse::<Cjt188Spec>().is_err());
        assert!("gas:0001".parse::<Cjt188Spec>().is_err());
    }
}
