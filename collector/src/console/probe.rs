//! Try a point before it goes into the config: read one register range from a unit with a chosen
//! type and scale, and show the raw words and the value in every word order. On a line the
//! collector already polls the read takes its turn on that line's link; another TCP address gets
//! a connection of its own for the one read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::line::link::Link;
use crate::line::{Endpoint, Framing};
use crate::modbus::decode::decode;
use crate::modbus::plan::ReadRequest;
use crate::modbus::read::read_registers;
use crate::modbus::register::{DataType, RegisterFunction, WordOrder};
use crate::sources::Links;

/// How long the one read may wait for its answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the engineer asks to read.
#[derive(Debug, Deserialize)]
pub struct TryRead {
    /// A configured endpoint as listed on the page, or `host:port` of a Modbus TCP device.
    pub endpoint: String,
    pub unit: u8,
    pub function: RegisterFunction,
    pub address: u16,
    #[serde(rename = "type")]
    pub data_type: DataType,
    #[serde(default = "one")]
    pub scale: f64,
}

fn one() -> f64 {
    1.0
}

/// What came back.
#[derive(Debug, Serialize)]
pub struct TryResult {
    pub ok: bool,
    /// The registers as hex words.
    pub words: Vec<String>,
    /// The value in each word order, scaled.
    pub values: Vec<(String, f64)>,
    pub error: Option<String>,
}

/// The endpoints the page offers: every line the collector has open.
pub fn endpoints(links: &Links) -> Vec<String> {
    links.lock().unwrap_or_else(|p| p.into_inner()).keys().map(|e| e.to_string()).collect()
}

/// Reads what `ask` names.
pub async fn read(links: &Links, ask: &TryRead) -> TryResult {
    let request = ReadRequest::single(ask.function, ask.address, ask.data_type.words());
    let shared = links.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(e, _)| e.to_string() == ask.endpoint).map(|(_, l)| l.clone());
    let result = match shared {
        Some(link) => read_registers(&mut *link.link.lock().await, ask.unit, &request, TIMEOUT, Duration::ZERO).await,
        None => match parse_tcp(&ask.endpoint) {
            Some(endpoint) => read_registers(&mut Link::new(endpoint), ask.unit, &request, TIMEOUT, Duration::ZERO).await,
            None => {
                return TryResult { ok: false, words: Vec::new(), values: Vec::new(), error: Some(format!("{:?} is neither an open line nor host:port", ask.endpoint)) };
            }
        },
    };
    match result {
        Ok(words) => TryResult {
            ok: true,
            words: words.iter().map(|w| format!("{w:04X}")).collect(),
            values: WordOrder::ALL.iter().map(|o| (o.to_string(), decode(&words, ask.data_type, *o) * ask.scale)).collect(),
            error: None,
        },
        Err(e) => TryResult { ok: false, words: Vec::new(), values: Vec::new(), error: Some(e.to_string()) },
    }
}

/// `host:port` as a Modbus TCP endpoint.
fn parse_tcp(text: &str) -> Option<Endpoint> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| Endpoint::Tcp { host: host.to_owned(), port, framing: Framing::Tcp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(parse_tcp("10.0.0.7:502"), Some(Endpoint::Tcp { host: "10.0.0.7".into(), port: 502, framing: Framing::Tcp }));
        assert_eq!(parse_tcp("nohost"), None);
        assert_eq!(parse_tcp(":502"), None);
    }
}
