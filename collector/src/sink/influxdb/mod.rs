//! The InfluxDB sink: line protocol over HTTP, batched and gzipped, to InfluxDB 2's
//! `/api/v2/write` (org, bucket, token) or to the v1-compatible `/write` that InfluxDB 1.x, 2.x
//! (with a DBRP mapping) and 3.x all accept.
//!
//! Failures: connection errors, timeouts, 5xx and 429 are retried with exponential backoff and
//! jitter (a `Retry-After` header, in seconds or as an HTTP date, wins up to `max_backoff`); a
//! timeout also halves the batch; 413 splits the batch (a single reading too large is set
//! aside); 400 and 422, refusals of the data itself, set the batch aside in
//! `<data_dir>/dead-letter/` with the server's message; every other status (401, 403, 404, a
//! redirect, 405 from a proxy) is retried and logged, never dead-lettered, so fixing the token,
//! the URL or creating the database delivers everything.

pub mod line;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use readings::Reading;
use serde::Deserialize;

use super::driver::{Outcome, Sink};
use crate::settings::{read_secret, ConfigError, HumanDuration};
use crate::dead_letter::DeadLetters;

/// Which write API to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `/write?db=&rp=`: InfluxDB 1.x, and 2.x/3.x through their v1 compatibility.
    V1,
    /// `/api/v2/write?org=&bucket=`: InfluxDB 2.x.
    V2,
}

/// `[sinks.influxdb]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxSpec {
    pub url: String,
    pub api: Api,
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub org: Option<String>,
    pub bucket: Option<String>,
    /// Name of the environment variable holding the token.
    pub token_env: Option<String>,
    /// File holding the token.
    pub token_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default = "default_measurement")]
    pub measurement: String,
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    #[serde(default = "default_max_age")]
    pub max_age: HumanDuration,
    #[serde(default = "yes")]
    pub gzip: bool,
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_backoff")]
    pub retry_backoff: HumanDuration,
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
}

fn default_measurement() -> String {
    "reading".into()
}
fn default_max_rows() -> usize {
    5000
}
fn default_max_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}
fn yes() -> bool {
    true
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(500))
}
fn default_max_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

/// A token or password: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the sink authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    None,
    Token(Secret),
    Basic { username: String, password: Secret },
}

/// The validated InfluxDB sink settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluxConfig {
    /// The full write URL, query string included.
    pub write_url: String,
    pub auth: Auth,
    pub measurement: String,
    pub max_rows: usize,
    pub max_age: HumanDuration,
    pub gzip: bool,
    pub timeout: HumanDuration,
    pub retry_backoff: HumanDuration,
    pub max_backoff: HumanDuration,
}

fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl InfluxSpec {
    /// Validates the section; secrets are read now, once. `base` anchors relative files.
    pub fn validate(&self, file: &str, base: &Path) -> Result<InfluxConfig, Vec<ConfigError>> {
        let key = |k: &str| format!("sinks.influxdb.{k}");
        let mut errors = Vec::new();
        let url = self.url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            errors.push(ConfigError::new(file, key("url"), format!("{:?} is not an http:// or https:// URL", self.url)));
        }
        let token = read_secret(file, &key("token"), &self.token_env, &self.token_file, base, &mut errors).map(Secret);
        let password = read_secret(file, &key("password"), &self.password_env, &self.password_file, base, &mut errors).map(Secret);
        let write_url = match self.api {
            Api::V1 => {
                let Some(db) = &self.database else {
                    errors.push(ConfigError::new(file, key("database"), "is required with api = \"v1\""));
                    return Err(errors);
                };
                let mut u = format!("{url}/write?db={}&precision=ms", encode_query(db));
                if let Some(rp) = &self.retention_policy {
                    u.push_str(&format!("&rp={}", encode_query(rp)));
                }
                u
            }
            Api::V2 => {
                let (Some(org), Some(bucket)) = (&self.org, &self.bucket) else {
                    errors.push(ConfigError::new(file, key("bucket"), "org and bucket are required with api = \"v2\""));
                    return Err(errors);
                };
                format!("{url}/api/v2/write?org={}&bucket={}&precision=ms", encode_query(org), encode_query(bucket))
            }
        };
        let auth = match (token, &self.username, password) {
            (Some(t), None, None) => Auth::Token(t),
            (None, Some(u), Some(p)) => Auth::Basic { username: u.clone(), password: p },
            (None, None, None) => Auth::None,
            _ => {
                errors.push(ConfigError::new(file, key("username"), "use a token, or a username with a password, not a mix"));
                Auth::None
            }
        };
        if self.max_rows == 0 {
            errors.push(ConfigError::new(file, key("max_rows"), "is 0; it must be at least 1"));
        }
        if self.retry_backoff.0.is_zero() {
            errors.push(ConfigError::new(file, key("retry_backoff"), "is 0; a server that is down would be asked again without a pause"));
        }
        if self.max_backoff.0 < self.retry_backoff.0 {
            errors.push(ConfigError::new(file, key("max_backoff"), format!("is {}, shorter than retry_backoff ({})", self.max_backoff, self.retry_backoff)));
        }
        if self.measurement.is_empty() {
            errors.push(ConfigError::new(file, key("measurement"), "is empty"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(InfluxConfig {
            write_url,
            auth,
            measurement: self.measurement.clone(),
            max_rows: self.max_rows,
            max_age: self.max_age,
            gzip: self.gzip,
            timeout: self.timeout,
            retry_backoff: self.retry_backoff,
            max_backoff: self.max_backoff,
        })
    }
}

/// Writes batches to InfluxDB.
pub struct InfluxSink {
    config: InfluxConfig,
    client: reqwest::Client,
    dead_letters: DeadLetters,
    attempt: u32,
}

impl InfluxSink {
    /// The sink's name in the journal.
    pub const NAME: &'static str = "influxdb";

    /// A sink for `config`; undeliverable batches go to `dead_letters`.
    pub fn new(config: InfluxConfig, dead_letters: DeadLetters) -> Result<Self, reqwest::Error> {
        // A redirect would turn the POST into a GET and its answer into a refusal: never follow.
        let client = reqwest::Client::builder().timeout(config.timeout.0).redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Self { config, client, dead_letters, attempt: 0 })
    }

    fn backoff(&self) -> Duration {
        let base = self.config.retry_backoff.0.saturating_mul(1 << self.attempt.min(16));
        let capped = base.min(self.config.max_backoff.0);
        capped + Duration::from_millis(fastrand::u64(0..=capped.as_millis() as u64 / 2))
    }

    async fn set_aside(&self, body: &str, status: u16, message: &str) -> Result<PathBuf, crate::dead_letter::DeadLetterError> {
        let mut file = format!("# refused with HTTP {status}: {}\n", message.replace('\n', " ")).into_bytes();
        file.extend_from_slice(body.as_bytes());
        self.dead_letters.write_file("influxdb", "lp", file).await
    }

    /// The server's `Retry-After` (delay-seconds or an HTTP date), at most `max_backoff`: a
    /// broken or hostile server must not park the sink for years, nor overflow a deadline.
    fn retry_after(&self, header: Option<&str>) -> Option<Duration> {
        let value = header?.trim();
        let wait = match value.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
                (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default()
            }
        };
        Some(wait.max(self.config.retry_backoff.0).min(self.config.max_backoff.0))
    }
}

impl Sink for InfluxSink {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn deliver(&mut self, batch: &[Reading]) -> Outcome {
        let mut body = String::with_capacity(batch.len() * 160);
        for r in batch {
            line::encode(&self.config.measurement, r, &mut body);
        }
        let mut request = self.client.post(&self.config.write_url).header("Content-Type", "text/plain; charset=utf-8");
        request = match &self.config.auth {
            Auth::None => request,
            Auth::Token(t) => request.header("Authorization", format!("Token {}", t.0)),
            Auth::Basic { username, password } => request.basic_auth(username, Some(&password.0)),
        };
        request = if self.config.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let compressed = gz.write_all(body.as_bytes()).and_then(|()| gz.finish());
            match compressed {
                Ok(bytes) => request.header("Content-Encoding", "gzip").body(bytes),
                Err(_) => request.body(body.clone()),
            }
        } else {
            request.body(body.clone())
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let after = self.backoff();
                self.attempt += 1;
                let timed_out = e.is_timeout();
                // reqwest's Display omits the cause (connection refused, timed out): keep it.
                let mut reason = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    reason.push_str(": ");
                    reason.push_str(&s.to_string());
                    source = s.source();
                }
                return Outcome::Retry { after, reason, timed_out };
            }
        };
        let status = response.status();
        if status.is_success() {
            self.attempt = 0;
            return Outcome::Delivered;
        }
        let retry_after = self.retry_after(response.headers().get("Retry-After").and_then(|v| v.to_str().ok()));
        let message: String = response.text().await.unwrap_or_default().chars().take(2000).collect();
        let code = status.as_u16();
        if code == 413 && batch.len() > 1 {
            return Outcome::TooLarge { reason: format!("HTTP 413: {}", message.trim()) };
        }
        // Only a refusal of the data itself is set aside; anything else (a redirect, 405 from a
        // proxy, 409, 410) is the path or the server, not the points: retried, never dropped.
        if !matches!(code, 400 | 413 | 422) {
            let after = retry_after.unwrap_or_else(|| self.backoff());
            self.attempt += 1;
            return Outcome::Retry { after, reason: format!("HTTP {code}: {}", message.trim()), timed_out: matches!(code, 408 | 504) };
        }
        // The data itself was refused and sending it again cannot help.
        self.attempt = 0;
        match self.set_aside(&body, code, &message).await {
            Ok(path) => Outcome::SetAside { reason: format!("HTTP {code}: {} (batch in {})", message.trim(), path.display()) },
            // The readings stay in the journal: better a stalled sink (unhealthy, and said so)
            // than a batch gone without a trace.
            Err(e) => Outcome::Retry { after: self.backoff(), reason: format!("HTTP {code}, and the batch could not be set aside: {e}"), timed_out: false },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> InfluxSpec {
        crate::settings::parse_toml("x.toml", &format!("url = \"http://127.0.0.1:8086/\"\n{extra}")).unwrap()
    }

    #[test]
    fn write_urls_for_both_apis() {
        let v1 = spec("api = \"v1\"\ndatabase = \"energy data\"\nretention_policy = \"autogen\"").validate("x.toml", Path::new(".")).unwrap();
        assert_eq!(v1.write_url, "http://127.0.0.1:8086/write?db=energy%20data&precision=ms&rp=autogen");
        let v2 = spec("api = \"v2\"\norg = \"plant\"\nbucket = \"energy\"").validate("x.toml", Path::new(".")).unwrap();
        assert_eq!(v2.write_url, "http://127.0.0.1:8086/api/v2/write?org=plant&bucket=energy&precision=ms");
    }

    #[test]
    fn a_token_from_a_file_never_shows_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cr3t-token\n").unwrap();
        let c = spec("api = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken_file = \"token\"").validate("x.toml", dir.path()).unwrap();
        assert_eq!(c.auth, Auth::Token(Secret("s3cr3t-token".into())));
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }

    #[test]
    fn missing_settings_are_named() {
        let errs = spec("api = \"v1\"").validate("x.toml", Path::new(".")).unwrap_err();
        assert_eq!(errs[0].to_string(), "x.toml: sinks.influxdb.database: is required with api = \"v1\"");
        let errs = spec("api = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken_file = \"/nonexistent/token\"").validate("x.toml", Path::new(".")).unwrap_err();
        assert!(errs[0].to_string().starts_with("x.toml: sinks.influxdb.token_file: cannot read /nonexistent/token:"), "{}", errs[0]);
    }

    #[test]
    fn retry_after_is_clamped_whatever_the_server_says() {
        let mut c = spec("api = \"v1\"\ndatabase = \"e\"\nretry_backoff = \"200ms\"\nmax_backoff = \"30s\"").validate("x.toml", Path::new(".")).unwrap();
        c.gzip = false;
        let dir = tempfile::tempdir().unwrap();
        let sink = InfluxSink::new(c, DeadLetters::new(dir.path().join("dl"), Default::default(), 0)).unwrap();
        let s = |secs: u64| Some(Duration::from_secs(secs));
        assert_eq!(sink.retry_after(Some("18446744073709551615")), s(30), "u64::MAX seconds once panicked the task");
        assert_eq!(sink.retry_after(Some("Fri, 31 Dec 9999 23:59:59 GMT")), s(30));
        assert_eq!(sink.retry_after(Some(" 7 ")), s(7));
        assert_eq!(sink.retry_after(Some("0")), Some(Duration::from_millis(200)), "not a busy loop");
        assert_eq!(sink.retry_after(Some("Thu, 01 Jan 1970 00:00:00 GMT")), Some(Duration::from_millis(200)), "a date in the past");
        assert_eq!(sink.retry_after(Some("soon")), None);
        assert_eq!(sink.retry_after(None), None);
    }
}
