//! From an MQTT message to readings: the subscription's topic filter with its captures, and the
//! payload in one of three styles (JSON with field paths, a plain number, a CSV line), each field
//! mapped to a medium, quantity, kind and unit in config.

use chrono::{DateTime, Utc};
use readings::{Kind, Medium, MeterId, Quality, Quantity, Reading, Unit};
use serde::Deserialize;

use crate::normalise::Identity;

/// The payload style of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON object; each field is found by a dotted path (`energy.import`, `values.0`).
    Json,
    /// The whole payload is one number.
    Number,
    /// One line of comma-separated values; fields are found by column (from 0).
    Csv,
}

/// How a message carries its own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    EpochS,
    EpochMs,
    Rfc3339,
}

/// Where a message's own timestamp is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// JSON path, or CSV column as a number written as text (`"0"`).
    pub path: String,
    pub format: TimeFormat,
}

/// One value in a message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// JSON path or CSV column; unused for `number`.
    #[serde(default)]
    pub path: String,
    pub quantity: Quantity,
    pub medium: Medium,
    pub kind: Kind,
    pub unit: Unit,
    /// JSON path or CSV column where the message states the value's unit, if it does: a unit of
    /// the same dimension is converted from, any other is a reason to dead-letter the message.
    pub unit_path: Option<String>,
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// A subscription and how its messages map to readings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// MQTT topic filter; `+` and `#` levels are captures `{1}`, `{2}`, ... in order.
    pub topic: String,
    /// The meter id, with captures: `"{1}"`, `"boiler-{2}"`.
    pub meter: String,
    pub format: Format,
    pub time: Option<TimeSpec>,
    pub fields: Vec<FieldSpec>,
}

/// Why a message did not map; it is dead-lettered with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("topic {0:?} does not match the subscription's filter")]
    Topic(String),
    #[error("meter id {0:?} from the topic is not a valid id: {1}")]
    Meter(String, String),
    #[error("payload is not UTF-8")]
    NotUtf8,
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error("no field at {0:?}")]
    Missing(String),
    #[error("field {path:?} is {found}, not a number")]
    NotANumber { path: String, found: String },
    #[error("time at {path:?}: {reason}")]
    Time { path: String, reason: String },
    #[error("CSV column {0:?} is not a column number")]
    Column(String),
    #[error("field {path:?} is in {stated:?} by the message, which {why}")]
    Unit { path: String, stated: String, why: String },
}

/// The captured levels of `topic` under `filter`, or `None` if it does not match.
pub fn captures(filter: &str, topic: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match f {
            "#" => {
                out.push(levels.by_ref().collect::<Vec<_>>().join("/"));
                return Some(out);
            }
            "+" => out.push(levels.next()?.to_owned()),
            exact => {
                if levels.next()? != exact {
                    return None;
                }
            }
        }
    }
    levels.next().is_none().then_some(out)
}

fn fill(template: &str, caps: &[String]) -> String {
    let mut s = template.to_owned();
    for (i, c) in caps.iter().enumerate() {
        s = s.replace(&format!("{{{}}}", i + 1), c);
    }
    s
}

fn json_at<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(v, |v, key| match v {
        serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => v.get(key),
    })
}

fn number(path: &str, text: &str) -> Result<f64, MapError> {
    text.trim().parse::<f64>().map_err(|_| MapError::NotANumber { path: path.to_owned(), found: format!("{:?}", truncate(text, 40)) })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn parse_time(spec: &TimeSpec, raw: TimeValue<'_>) -> Result<DateTime<Utc>, MapError> {
    let bad = |reason: String| MapError::Time { path: spec.path.clone(), reason };
    let t = match (spec.format, raw) {
        (TimeFormat::EpochS, TimeValue::Number(n)) => DateTime::from_timestamp_millis((n * 1000.0).round() as i64),
        (TimeFormat::EpochMs, TimeValue::Number(n)) => DateTime::from_timestamp_millis(n.round() as i64),
        (TimeFormat::EpochS | TimeFormat::EpochMs, TimeValue::Text(s)) => {
            let n = number(&spec.path, s).map_err(|_| bad(format!("{:?} is not a number", truncate(s, 40))))?;
            return parse_time(spec, TimeValue::Number(n));
        }
        (TimeFormat::Rfc3339, TimeValue::Text(s)) => {
            DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| bad(format!("{:?}: {e}", truncate(s, 40))))?.into()
        }
        (TimeFormat::Rfc3339, TimeValue::Number(_)) => return Err(bad("is a number, not RFC 3339 text".into())),
    };
    let t = t.ok_or_else(|| bad("out of range".into()))?;
    // A meter clock in 1970 or 2200 is a fault, not a time to store readings under.
    if !(946_684_800_000..4_102_444_800_000).contains(&t.timestamp_millis()) {
        return Err(bad(format!("{t} is outside 2000..2100")));
    }
    Ok(t)
}

/// The unit a message states for field `f`: the mapping's unit or one of its dimension.
fn stated_unit(f: &FieldSpec, stated: &str) -> Result<Unit, MapError> {
    let bad = |why: String| MapError::Unit { path: f.unit_path.clone().unwrap_or_default(), stated: truncate(stated, 20), why };
    let unit: Unit = stated.trim().parse().map_err(|_| bad("is not a unit this collector knows".into()))?;
    if unit.dimension() != f.unit.dimension() {
        return Err(bad(format!("measures {:?}, not {:?} as the mapping's {} does", unit.dimension(), f.unit.dimension(), f.unit)));
    }
    Ok(unit)
}

/// Why `filter` is not a valid MQTT topic filter (MQTT 3.1.1, 4.7.1), if it is not.
pub fn filter_problem(filter: &str) -> Option<String> {
    if filter.is_empty() {
        return Some("is empty".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Some(format!("{filter:?}: '#' must be a whole level and the last one"));
        }
        if level.contains('+') && *level != "+" {
            return Some(format!("{filter:?}: '+' must be a whole level, as in \"a/+/b\""));
        }
    }
    None
}

/// How many captures (`+` and `#` levels) a filter has.
pub fn capture_count(filter: &str) -> usize {
    filter.split('/').filter(|l| *l == "+" || *l == "#").count()
}

/// The capture numbers (`{1}`, `{2}`, ...) a meter template uses.
pub fn template_captures(template: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(close) = rest.find('}') {
            if let Ok(n) = rest[..close].parse() {
                out.push(n);
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Whether every topic `inner` matches is matched by `outer` too (so a subscription with
/// `inner` listed after one with `outer` would never see a message).
pub fn covers(outer: &str, inner: &str) -> bool {
    let (o, i): (Vec<&str>, Vec<&str>) = (outer.split('/').collect(), inner.split('/').collect());
    for (k, level) in o.iter().enumerate() {
        match *level {
            // "a/#" also matches "a" itself: it covers whatever is left of inner.
            "#" => return true,
            "+" => match i.get(k) {
                Some(&"#") | None => return false,
                Some(_) => {}
            },
            exact => {
                if i.get(k) != Some(&exact) {
                    return false;
                }
            }
        }
    }
    o.len() == i.len()
}

enum TimeValue<'a> {
    Number(f64),
    Text(&'a str),
}

impl Subscription {
    /// Maps one message received at `received` (used when the message has no time of its own) to
    /// readings of this gateway's `identity`.
    pub fn map(&self, identity: &Identity, topic: &str, payload: &[u8], received: DateTime<Utc>) -> Result<Vec<Reading>, MapError> {
        let caps = captures(&self.topic, topic).ok_or_else(|| MapError::Topic(topic.to_owned()))?;
        let meter_text = fill(&self.meter, &caps);
        let meter: MeterId = meter_text.parse().map_err(|e: readings::IdError| MapError::Meter(meter_text.clone(), e.to_string()))?;
        let text = std::str::from_utf8(payload).map_err(|_| MapError::NotUtf8)?;
        let mut values: Vec<f64> = Vec::with_capacity(self.fields.len());
        // The unit each field's value is in: the mapping's, or the one the message states.
        let mut units: Vec<Unit> = self.fields.iter().map(|f| f.unit).collect();
        let time = match self.format {
            Format::Json => {
                let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| MapError::NotJson(e.to_string()))?;
                for f in &self.fields {
                    let v = json_at(&doc, &f.path).ok_or_else(|| MapError::Missing(f.path.clone()))?;
                    values.push(match v {
                        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                        serde_json::Value::String(s) => number(&f.path, s)?,
                        other => return Err(MapError::NotANumber { path: f.path.clone(), found: truncate(&other.to_string(), 40) }),
                    });
                }
                for (f, unit) in self.fields.iter().zip(&mut units) {
                    if let Some(path) = &f.unit_path {
                        let stated = match json_at(&doc, path).ok_or_else(|| MapError::Missing(path.clone()))? {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        *unit = stated_unit(f, &stated)?;
                    }
                }
                match &self.time {
                    None => received,
                    Some(spec) => {
                        let raw = json_at(&doc, &spec.path).ok_or_else(|| MapError::Missing(spec.path.clone()))?;
                        let raw = match raw {
                            serde_json::Value::Number(n) => TimeValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                            serde_json::Value::String(s) => TimeValue::Text(s),
                            other => return Err(MapError::Time { path: spec.path.clone(), reason: format!("{other} is neither a number nor text") }),
                        };
                        parse_time(spec, raw)?
                    }
                }
            }
            Format::Number => {
                // One number, for every field (a plain-number subscription has one field).
                let v = number("(payload)", text)?;
                values.resize(self.fields.len(), v);
                received
            }
            Format::Csv => {
                let cols: Vec<&str> = text.trim_end_matches(['\r', '\n']).split(',').collect();
                let col = |path: &str| -> Result<&str, MapError> {
                    let i: usize = path.trim().parse().map_err(|_| MapError::Column(path.to_owned()))?;
                    cols.get(i).copied().ok_or_else(|| MapError::Missing(path.to_owned()))
                };
                for (f, unit) in self.fields.iter().zip(&mut units) {
                    values.push(number(&f.path, col(&f.path)?)?);
                    if let Some(path) = &f.unit_path {
                        *unit = stated_unit(f, col(path)?)?;
                    }
                }
                match &self.time {
                    None => received,
                    Some(spec) => parse_time(spec, TimeValue::Text(col(&spec.path)?))?,
                }
            }
        };
        Ok(self
            .fields
            .iter()
            .zip(values)
            .zip(units)
            .map(|((f, raw), unit)| {
                let canonical = f.quantity.canonical_unit();
                let v = unit.convert(readings::apply_scale(raw, f.scale), canonical).unwrap_or(f64::NAN);
                // A cumulative register below zero is a fault of the meter or its gateway: kept,
                // flagged, and left out of the accounts.
                let (value, quality) = match v.is_finite() {
                    false => (None, Quality::OutOfRange),
                    true if f.kind == Kind::Counter && v < 0.0 => (Some(v), Quality::OutOfRange),
                    true => (Some(v), Quality::Good),
                };
                Reading {
                    time,
                    enterprise: identity.enterprise.clone(),
                    site: identity.site.clone(),
                    meter: meter.clone(),
                    medium: f.medium,
                    quantity: f.quantity,
                    kind: f.kind,
                    unit: canonical,
                    value,
                    quality,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(toml_text: &str) -> Subscription {
        crate::settings::parse_toml("t.toml", toml_text).unwrap()
    }

    fn id() -> Identity {
        Identity { enterprise: "91350100M000100Y43".parse().unwrap(), site: "plant-1".parse().unwrap() }
    }

    fn received() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_795_000_000_000).unwrap()
    }

    const JSON_SUB: &str = r#"
topic = "plant/+/meters/+/state"
meter = "{2}"
format = "json"
time = { path = "ts", format = "epoch_ms" }
[[fields]]
path = "energy.import_wh"
quantity = "active_energy_import"
medium = "electricity"
kind = "counter"
unit = "Wh"
[[fields]]
path = "power.0"
quantity = "active_power_l1"
medium = "electricity"
kind = "gauge"
unit = "W"
"#;

    #[test]
    fn filters_templates_and_shadowing() {
        assert_eq!(filter_problem("a/+/c/#"), None);
        assert!(filter_problem("a/#/b").unwrap().contains("'#' must be a whole level and the last one"));
        assert!(filter_problem("c/d+").unwrap().contains("'+' must be a whole level"));
        assert!(filter_problem("c/d#").is_some());
        assert_eq!(capture_count("plant/+/meters/+/#"), 3);
        assert_eq!(template_captures("boiler-{2}-{1}{x}"), vec![2, 1]);
        assert!(covers("plant/#", "plant/+/state"));
        assert!(covers("plant/+/state", "plant/a/state"));
        assert!(covers("#", "a"));
        assert!(!covers("plant/+/state", "plant/#"));
        assert!(!covers("plant/a/state", "plant/+/state"));
        assert!(!covers("plant/+", "plant/+/state"));
    }

    #[test]
    fn a_negative_counter_is_flagged_and_a_stated_unit_is_checked() {
        let csv = "topic = \"m/+\"\nmeter = \"{1}\"\nformat = \"csv\"\n[[fields]]\npath = \"0\"\nunit_path = \"1\"\nquantity = \"active_energy_import\"\nmedium = \"electricity\"\nkind = \"counter\"\nunit = \"kWh\"\n";
        let s = sub(csv);
        let out = s.map(&id(), "m/a", b"-3.5,kWh", received()).unwrap();
        assert_eq!((out[0].value, out[0].quality), (Some(-3.5), Quality::OutOfRange));
        let out = s.map(&id(), "m/a", b"1.5,MWh", received()).unwrap();
        assert_eq!((out[0].value, out[0].quality), (Some(1500.0), Quality::Good), "a stated unit of the same dimension is converted from");
        let err = s.map(&id(), "m/a", b"12,m3", received()).unwrap_err().to_string();
        assert_eq!(err, "field \"1\" is in \"m3\" by the message, which measures Volume, not Energy as the mapping's kWh does");
        let err = s.map(&id(), "m/a", b"12,furlongs", received()).unwrap_err().to_string();
        assert!(err.contains("is not a unit this collector knows"), "{err}");
    }

    #[test]
    fn topic_captures() {
        assert_eq!(captures("a/+/c/#", "a/b/c/d/e"), Some(vec!["b".to_owned(), "d/e".to_owned()]));
        assert_eq!(captures("a/+/c", "a/b/c"), Some(vec!["b".to_owned()]));
        assert_eq!(captures("a/+/c", "a/b/c/d"), None);
        assert_eq!(captures("a/+/c", "a/b"), None);
        assert_eq!(captures("a/+/c", "x/b/c"), None);
    }

    #[test]
    fn json_with_paths_and_its_own_time() {
        let s = sub(JSON_SUB);
        let out = s.map(&id(), "plant/p1/meters/incomer/state", br#"{"ts": 1795000123456, "energy": {"import_wh": 1234500}, "power": [5000, 6000]}"#, received()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].meter.as_str(), "incomer");
        assert_eq!(out[0].time.timestamp_millis(), 1_795_000_123_456);
        assert_eq!((out[0].value, out[0].unit), (Some(1234.5), Unit::KWh));
        assert_eq!((out[1].value, out[1].unit), (Some(5.0), Unit::KW));
    }

    #[test]
    fn plain_number_and_csv() {
        let n = sub("topic = \"water/+\"\nmeter = \"wm-{1}\"\nformat = \"number\"\n[[fields]]\nquantity = \"volume\"\nmedium = \"water\"\nkind = \"counter\"\nunit = \"L\"\n");
        let out = n.map(&id(), "water/7", b" 2500 \n", received()).unwrap();
        assert_eq!((out[0].meter.as_str(), out[0].value, out[0].time), ("wm-7", Some(2.5), received()));

        let c = sub("topic = \"gas/#\"\nmeter = \"boiler\"\nformat = \"csv\"\ntime = { path = \"0\", format = \"rfc3339\" }\n[[fields]]\npath = \"2\"\nquantity = \"volume\"\nmedium = \"natural_gas\"\nkind = \"counter\"\nunit = \"m3\"\n");
        let out = c.map(&id(), "gas/site/boiler", b"2026-11-23T08:00:00+08:00,ok,1234.75\r\n", received()).unwrap();
        assert_eq!(out[0].value, Some(1234.75));
        assert_eq!(out[0].time.to_rfc3339(), "2026-11-23T00:00:00+00:00");
    }

    #[test]
    fn malformed_messages_say_why() {
        let s = sub(JSON_SUB);
        let t = "plant/p1/meters/incomer/state";
        let cases: [(&str, &[u8], &str); 7] = [
            ("not json", b"{energy", "payload is not JSON"),
            ("missing field", br#"{"ts": 1795000123456, "power": [1]}"#, "no field at \"energy.import_wh\""),
            ("text value", br#"{"ts": 1795000123456, "energy": {"import_wh": "lots"}, "power": [1]}"#, "field \"energy.import_wh\" is \"lots\", not a number"),
            ("object value", br#"{"ts": 1795000123456, "energy": {"import_wh": {}}, "power": [1]}"#, "field \"energy.import_wh\" is {}, not a number"),
            ("time in 1970", br#"{"ts": 5, "energy": {"import_wh": 1}, "power": [1]}"#, "time at \"ts\": 1970-01-01 00:00:00.005 UTC is outside 2000..2100"),
            ("not utf-8", &[0xff, 0xfe], "payload is not UTF-8"),
            ("bad meter", br#"{}"#, ""),
        ];
        for (what, payload, want) in &cases[..6] {
            let err = s.map(&id(), t, payload, received()).unwrap_err().to_string();
            assert!(err.starts_with(want), "{what}: {err}");
        }
        let err = s.map(&id(), "plant/p1/meters/in coming/state", cases[6].1, received()).unwrap_err().to_string();
        assert!(err.starts_with("meter id \"in coming\" from the topic is not a valid id"), "{err}");
        assert_eq!(s.map(&id(), "other/topic", b"{}", received()).unwrap_err(), MapError::Topic("other/topic".into()));
    }
}
