//! The latest value of every point of every source, with the raw registers or frame behind it,
//! for the console: a commissioning engineer sees a wrong word order or scale at once when the
//! value sits next to its raw words and what the other orders would make of them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use readings::{Quality, Reading, Unit};
use serde::Serialize;

use crate::modbus::decode::decode;
use crate::modbus::register::{DataType, WordOrder};

/// What a value was decoded from.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    /// Modbus registers as received, and how the point reads them.
    Registers { words: Vec<u16>, data_type: DataType, order: WordOrder, scale: f64, offset: f64 },
    /// The answer frame of a meter protocol (DL/T 645, CJ/T 188), as received.
    Frame(Vec<u8>),
}

impl Raw {
    /// The value in each word order, scaled as configured (in the point's own unit).
    pub fn every_order(&self) -> Vec<(WordOrder, f64)> {
        match self {
            Raw::Registers { words, data_type, scale, offset, .. } if words.len() == usize::from(data_type.words()) => {
                WordOrder::ALL.iter().map(|o| (*o, decode(words, *data_type, *o) * scale + offset)).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// One point's latest reading.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePoint {
    pub time: DateTime<Utc>,
    pub value: Option<f64>,
    pub unit: Unit,
    pub quality: Quality,
    pub raw: Option<Raw>,
}

/// The latest readings of every source, by source name then quantity.
#[derive(Debug, Default)]
pub struct Live {
    sources: Mutex<BTreeMap<String, BTreeMap<String, LivePoint>>>,
}

impl Live {
    /// Takes the readings a source just handed to the journal.
    pub fn record(&self, readings: &[Reading]) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        for r in readings {
            // Values from a meter's memory are history, not what it shows now.
            if matches!(r.quality, Quality::MeterMemory) {
                continue;
            }
            let points = sources.entry(r.meter.to_string()).or_default();
            let raw = points.get(&r.quantity.to_string()).and_then(|p| p.raw.clone());
            // A failed read keeps the raw bytes of the last good one out of sight: they would
            // explain a value that is not there.
            let raw = if r.value.is_some() { raw } else { None };
            points.insert(r.quantity.to_string(), LivePoint { time: r.time, value: r.value, unit: r.unit, quality: r.quality, raw });
        }
    }

    /// Records what `quantity` of `source` was decoded from, before its reading arrives.
    pub fn raw(&self, source: &str, quantity: &str, raw: Raw) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let points = sources.entry(source.to_owned()).or_default();
        match points.get_mut(quantity) {
            Some(p) => p.raw = Some(raw),
            None => {
                points.insert(quantity.to_owned(), LivePoint { time: Utc::now(), value: None, unit: Unit::One, quality: Quality::Good, raw: Some(raw) });
            }
        }
    }

    /// Forgets a source a reload removed.
    pub fn remove(&self, source: &str) {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).remove(source);
    }

    /// A copy of everything, for one page or one event.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, LivePoint>> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One point as the console shows it.
#[derive(Debug, Serialize)]
pub struct PointView {
    pub quantity: String,
    pub time: String,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub quality: &'static str,
    /// Raw registers as hex words, or the frame as hex bytes.
    pub raw: Option<String>,
    /// The value in each word order (Modbus points of more than one word).
    pub orders: Vec<(String, f64)>,
}

impl PointView {
    /// The view of `point`, named `quantity`.
    pub fn new(quantity: &str, point: &LivePoint) -> Self {
        let raw = point.raw.as_ref().map(|r| match r {
            Raw::Registers { words, .. } => words.iter().map(|w| format!("{w:04X}")).collect::<Vec<_>>().join(" "),
            Raw::Frame(bytes) => bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" "),
        });
        let orders = point.raw.as_ref().map(|r| r.every_order()).unwrap_or_default().into_iter().map(|(o, v)| (format!("{o:?}"), v)).collect();
        Self { quantity: quantity.to_owned(), time: point.time.to_rfc3339(), value: point.value, unit: point.unit.symbol(), quality: point.quality.as_str(), raw, orders }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_registers_read_in_every_order() {
        // 0x41200000 is 10.0 as an f32; swapped words give a denormal, swapped bytes garbage.
        let raw = Raw::Registers { words: vec![0x4120, 0x0000], data_type: DataType::F32, order: WordOrder::ABCD, scale: 1.0, offset: 0.0 };
        let orders = raw.every_order();
        assert_eq!(orders[0], (WordOrder::ABCD, 10.0));
        assert!(orders[1].1.abs() < 1e-30, "{orders:?}");
        let view = PointView::new("active_power", &LivePoint { time: Utc::now(), value: Some(10.0), unit: Unit::KW, quality: Quality::Good, raw: Some(raw) });
        assert_eq!(view.raw.as_deref(), Some("4120 0000"));
        assert_eq!(view.orders.len(), 4);
    }
}
