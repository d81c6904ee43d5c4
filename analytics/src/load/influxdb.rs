//! Counter readings from InfluxDB through InfluxQL on the v1-compatible `/query` endpoint, which
//! InfluxDB 1.x, 2.x (with a DBRP mapping) and 3.x all answer. The filters (time range, counter
//! kind, quantities, enterprises) run on the server; with `downsample` the server also reduces
//! each counter to its last value per interval (`LAST(value) ... GROUP BY time(...)`), which keeps
//! every period total within the interpolation error (docs/accounts.md) at a fraction of the
//! transfer. Results are streamed in chunks, so a year of readings is never one JSON document.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use readings::{Medium, Quality};
use serde::Deserialize;

use super::{convert, series_name, to_canonical, CounterReadings, CONSUMPTION_QUANTITIES};

/// Where the readings are, and how to ask for them.
#[derive(Debug, Clone)]
pub struct InfluxSource {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    pub database: String,
    /// The measurement the collector writes (`reading` by default).
    pub measurement: String,
    pub auth: InfluxAuth,
    /// Reduce each counter to its last value per this interval on the server.
    pub downsample: Option<Duration>,
}

/// How to authenticate to the server.
#[derive(Clone, Default)]
pub enum InfluxAuth {
    #[default]
    None,
    /// An API token (InfluxDB 2.x and 3.x).
    Token(String),
    /// A user and password (InfluxDB 1.x).
    Basic { user: String, password: String },
}

impl std::fmt::Debug for InfluxAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.write_str(match self {
            InfluxAuth::None => "none",
            InfluxAuth::Token(_) => "token",
            InfluxAuth::Basic { .. } => "basic",
        })
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    results: Vec<StatementResult>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    columns: Vec<String>,
    values: Vec<Vec<serde_json::Value>>,
}

/// Quotes an InfluxQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The InfluxQL statement for `[from, to)`.
pub fn query(source: &InfluxSource, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> String {
    let quantities: Vec<String> = CONSUMPTION_QUANTITIES.iter().map(|q| format!("\"quantity\" = {}", quote(q))).collect();
    let mut filter = format!(
        "\"kind\" = 'counter' AND ({}) AND time >= {}ms AND time < {}ms",
        quantities.join(" OR "),
        from.timestamp_millis(),
        to.timestamp_millis()
    );
    if !enterprises.is_empty() {
        let any: Vec<String> = enterprises.iter().map(|e| format!("\"enterprise\" = {}", quote(e))).collect();
        filter.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    let tags = "\"enterprise\", \"site\", \"meter\", \"medium\", \"quantity\", \"unit\"";
    let measurement = format!("\"{}\"", source.measurement.replace('"', "\\\""));
    match source.downsample {
        None => format!("SELECT \"value\", \"quality\" FROM {measurement} WHERE {filter} GROUP BY {tags}"),
        Some(every) => format!(
            "SELECT LAST(\"value\") AS \"value\" FROM {measurement} WHERE {filter} AND (\"quality\" = 'good' OR \"quality\" = 'estimated' OR \"quality\" = 'calibration_expired') GROUP BY time({}ms), {tags} fill(none)",
            every.as_millis()
        ),
    }
}

/// The counter readings of `[from, to)` (UTC), optionally of some enterprises only.
pub fn counters_from_influxdb(source: &InfluxSource, from: DateTime<Utc>, to: DateTime<Utc>, enterprises: &[String]) -> anyhow::Result<Vec<CounterReadings>> {
    let q = query(source, from, to, enterprises);
    let url = format!("{}/query", source.url.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(600)).build().context("building the HTTP client")?;
    let mut request = client
        .get(&url)
        .query(&[("db", source.database.as_str()), ("q", q.as_str()), ("epoch", "ms"), ("chunked", "true"), ("chunk_size", "10000")]);
    request = match &source.auth {
        InfluxAuth::None => request,
        InfluxAuth::Token(token) => request.header("Authorization", format!("Token {token}")),
        InfluxAuth::Basic { user, password } => request.basic_auth(user, Some(password)),
    };
    let response = request.send().with_context(|| format!("querying {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().unwrap_or_default();
        anyhow::bail!("{url} answered {status}: {}", body.trim());
    }
    // InfluxQL stamps a GROUP BY time() bucket with its start; its LAST value was read by the
    // end of the bucket, which is where it belongs on the counter's time line.
    let shift = source.downsample.map_or(0, |d| d.as_millis() as i64);
    parse_chunks(response, shift).with_context(|| format!("reading {url} database {} measurement {}", source.database, source.measurement))
}

/// Reads the stream of JSON chunks a chunked `/query` answers with into counters (enterprise,
/// site, meter, quantity), merging the parts of a series that span chunks, values converted into
/// the quantity's canonical unit; every time is moved by `shift_ms`. A unit that cannot be
/// converted is an error naming the series.
pub fn parse_chunks(body: impl Read, shift_ms: i64) -> anyhow::Result<Vec<CounterReadings>> {
    let mut counters: BTreeMap<(String, String, String, String), CounterReadings> = BTreeMap::new();
    for chunk in serde_json::Deserializer::from_reader(body).into_iter::<Chunk>() {
        let chunk = chunk.context("reading InfluxDB's answer")?;
        if let Some(e) = chunk.error {
            anyhow::bail!("InfluxDB: {e}");
        }
        for result in chunk.results {
            if let Some(e) = result.error {
                anyhow::bail!("InfluxDB: {e}");
            }
            for s in result.series {
                let tag = |k: &str| s.tags.get(k).cloned().unwrap_or_default();
                let key = (tag("enterprise"), tag("site"), tag("meter"), tag("quantity"));
                let series = series_name(&key.0, &key.1, &key.2, &key.3);
                let medium: Medium = tag("medium").parse().map_err(|e| anyhow::anyhow!("series {series}: {e}"))?;
                let (canonical, factor) = to_canonical(&key.3, &tag("unit")).map_err(|e| anyhow::anyhow!("series {series}: {e}"))?;
                let column = |name: &str| s.columns.iter().position(|c| c == name);
                let (time, value, quality) = (column("time").context("no time column")?, column("value").context("no value column")?, column("quality"));
                let c = counters.entry(key.clone()).or_insert_with(|| CounterReadings {
                    enterprise: key.0.clone(),
                    site: key.1.clone(),
                    meter: key.2.clone(),
                    medium,
                    quantity: key.3.clone(),
                    unit: canonical.symbol().to_owned(),
                    points: Vec::new(),
                    unusable: Vec::new(),
                });
                for row in &s.values {
                    let t = row.get(time).and_then(|v| v.as_i64()).context("a row without a time")? + shift_ms;
                    let v = row.get(value).and_then(|v| v.as_f64()).map(|v| convert(v, factor));
                    // Downsampled rows carry no quality: the query kept only usable ones.
                    let q = match quality.and_then(|i| row.get(i)).and_then(|v| v.as_str()) {
                        Some(q) => q.parse().map_err(|e| anyhow::anyhow!("series {series}: {e}"))?,
                        None => Quality::Good,
                    };
                    c.push(t, v, q);
                }
            }
        }
    }
    let mut out: Vec<CounterReadings> = counters.into_values().collect();
    for c in &mut out {
        c.points.sort_by_key(|p| p.0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_one_series_are_merged() {
        let body = r#"{"results":[{"statement_id":0,"series":[{"name":"reading","tags":{"enterprise":"E","site":"s","meter":"m","medium":"water","quantity":"volume","unit":"m3"},"columns":["time","value","quality"],"values":[[1000,1.5,"good"],[2000,null,"timeout"]]}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"reading","tags":{"enterprise":"E","site":"s","meter":"m","medium":"water","quantity":"volume","unit":"m3"},"columns":["time","value","quality"],"values":[[3000,2.5,"good"]]}]}]}"#;
        let c = parse_chunks(body.as_bytes(), 0).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].points, vec![(1000, 1.5), (3000, 2.5)]);
        assert_eq!(c[0].unusable, vec![(2000, Quality::Timeout)]);
        assert!(parse_chunks(r#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#.as_bytes(), 0).is_err());
    }

    /// Two sites' meters of one name stay two counters; MWh is read as kWh; a unit of another
    /// dimension names the series.
    #[test]
    fn series_are_keyed_by_site_and_converted_to_the_canonical_unit() {
        let series = |site: &str, unit: &str, value: f64| {
            format!(r#"{{"tags":{{"enterprise":"E","site":"{site}","meter":"m","medium":"electricity","quantity":"active_energy_import","unit":"{unit}"}},"columns":["time","value","quality"],"values":[[1000,{value},"good"]]}}"#)
        };
        let body = format!(r#"{{"results":[{{"statement_id":0,"series":[{},{}]}}]}}"#, series("north", "MWh", 1.5), series("south", "kWh", 7.0));
        let c = parse_chunks(body.as_bytes(), 0).unwrap();
        assert_eq!(c.iter().map(|c| c.series()).collect::<Vec<_>>(), ["E/north/m/active_energy_import", "E/south/m/active_energy_import"]);
        assert_eq!(c.iter().map(|c| (c.unit.as_str(), c.points.clone())).collect::<Vec<_>>(), [("kWh", vec![(1000, 1500.0)]), ("kWh", vec![(1000, 7.0)])]);
        let body = format!(r#"{{"results":[{{"statement_id":0,"series":[{}]}}]}}"#, series("north", "m3", 1.0));
        let e = parse_chunks(body.as_bytes(), 0).unwrap_err().to_string();
        assert!(e.starts_with("series E/north/m/active_energy_import: unit \"m3\" cannot be read as kWh"), "{e}");
    }

    #[test]
    fn queries_quote_what_they_filter_on() {
        let s = InfluxSource { url: "u".into(), database: "d".into(), measurement: "reading".into(), auth: InfluxAuth::None, downsample: None };
        let q = query(&s, DateTime::from_timestamp(0, 0).unwrap(), DateTime::from_timestamp(60, 0).unwrap(), &["E'1".into()]);
        assert!(q.contains("time >= 0ms AND time < 60000ms"), "{q}");
        assert!(q.contains("\"enterprise\" = 'E\\'1'"), "{q}");
    }
}
