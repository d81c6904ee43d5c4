//! Durations written the way operators write them: `500ms`, `15s`, `15m`, `1h`, `1d`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration parsed from a short human string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `<integer><unit>` with unit one of ms, s, m, h, d.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration; write a whole number and a unit, e.g. \"500ms\", \"15s\", \"15m\", \"1h\""))?;
        let ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(format!("{s:?} has unit {unit:?}; use ms, s, m, h or d")),
        };
        n.checked_mul(ms)
            .map(|ms| HumanDuration(Duration::from_millis(ms)))
            .ok_or_else(|| format!("{s:?} is too long"))
    }

    /// Milliseconds, the resolution the scheduler works in.
    pub fn as_millis(self) -> u64 {
        self.0.as_millis() as u64
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms >= size && ms.is_multiple_of(size) {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(HumanDuration::parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(HumanDuration::parse("15m").unwrap().as_millis(), 900_000);
        assert_eq!(HumanDuration::parse("15m").unwrap().to_string(), "15m");
        assert_eq!(HumanDuration::parse("90s").unwrap().to_string(), "90s");
        assert!(HumanDuration::parse("15").unwrap_err().contains("unit \"\""));
        assert!(HumanDuration::parse("fast").unwrap_err().contains("not a duration"));
    }
}
