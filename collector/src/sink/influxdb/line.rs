//! Readings as InfluxDB line protocol: one measurement, the identifying columns as tags, value and
//! quality as fields, the reading's time in milliseconds. The tag set is the whole series key, so
//! writing a reading again overwrites the same point.

use std::fmt::Write as _;

use readings::Reading;

/// Escapes a measurement name (commas and spaces).
fn escape_measurement(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, ',' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escapes a tag key or value (commas, equals signs and spaces). Ids and vocabulary never contain
/// them; escaping keeps a future id rule change from producing bad points.
fn escape_tag(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends the line of `r` (terminated by a newline) to `out`.
pub fn encode(measurement: &str, r: &Reading, out: &mut String) {
    escape_measurement(measurement, out);
    let quantity = r.quantity.to_string();
    for (key, value) in [
        ("enterprise", r.enterprise.as_str()),
        ("site", r.site.as_str()),
        ("meter", r.meter.as_str()),
        ("medium", r.medium.as_str()),
        ("quantity", quantity.as_str()),
        ("kind", r.kind.as_str()),
        ("unit", r.unit.symbol()),
    ] {
        out.push(',');
        out.push_str(key);
        out.push('=');
        escape_tag(value, out);
    }
    out.push(' ');
    if let Some(v) = r.value {
        // `{:?}` prints the shortest text that reads back as the same f64 (and keeps a ".0").
        let _ = write!(out, "value={v:?},");
    }
    let _ = writeln!(out, "quality=\"{}\" {}", r.quality.as_str(), r.time.timestamp_millis());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use readings::{Kind, Measure, Medium, Phase, Quality, Quantity, Unit};

    #[test]
    fn lines_for_a_value_and_for_a_failed_poll() {
        let mut r = Reading {
            time: DateTime::from_timestamp_millis(1_795_000_000_123).unwrap(),
            enterprise: "91350100M000100Y43".parse().unwrap(),
            site: "plant-1".parse().unwrap(),
            meter: "incomer".parse().unwrap(),
            medium: Medium::Electricity,
            quantity: Quantity { measure: Measure::Voltage, phase: Some(Phase::L1) },
            kind: Kind::Gauge,
            unit: Unit::V,
            value: Some(230.0),
            quality: Quality::Good,
        };
        let mut out = String::new();
        encode("reading", &r, &mut out);
        assert_eq!(
            out,
            "reading,enterprise=91350100M000100Y43,site=plant-1,meter=incomer,medium=electricity,quantity=voltage_l1,kind=gauge,unit=V value=230.0,quality=\"good\" 1795000000123\n"
        );
        r.value = None;
        r.quality = Quality::Timeout;
        out.clear();
        encode("energy reading", &r, &mut out);
        assert!(out.starts_with("energy\\ reading,"), "{out}");
        assert!(out.ends_with(" quality=\"timeout\" 1795000000123\n"), "{out}");
        // Exact floats: the shortest round-tripping text.
        r.value = Some(0.1 + 0.2);
        out.clear();
        encode("reading", &r, &mut out);
        assert!(out.contains("value=0.30000000000000004,"), "{out}");
    }
}
