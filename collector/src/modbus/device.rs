//! A Modbus device as the collector polls it: where it is, its register map, its schedule and
//! its patience. Built from the config by `config::Config::parse`.

use readings::MeterId;

use super::plan::Limits;
use super::profile::RegisterMap;
use crate::line::Endpoint;
use crate::settings::HumanDuration;

/// A validated Modbus device.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub meter: MeterId,
    pub endpoint: Endpoint,
    pub unit: u8,
    pub interval: HumanDuration,
    /// The profile the map came from, or `None` for points written in the config.
    pub profile: Option<String>,
    pub map: RegisterMap,
    /// Each point's poll interval in ms (a multiple of the device's), by point index.
    pub point_interval_ms: Vec<u64>,
    pub limits: Limits,
    pub timeout: HumanDuration,
    pub retries: u32,
    pub retry_backoff: HumanDuration,
    pub pause_after_connect: HumanDuration,
    pub pause_between_requests: HumanDuration,
}

impl Device {
    /// The read items of points `due`, with the scale registers those points need (once each).
    pub fn items(&self, due: impl IntoIterator<Item = usize>) -> Vec<super::plan::Item> {
        use super::plan::{Item, Target};
        let mut items: Vec<Item> = Vec::new();
        for i in due {
            let p = &self.map.points[i];
            items.push(Item { target: Target::Point(i), location: p.location });
            if let Some((s, _, _)) = p.scale_from {
                if !items.iter().any(|it| it.target == Target::Scale(s)) {
                    items.push(Item { target: Target::Scale(s), location: self.map.scale_registers[s].location });
                }
            }
        }
        items
    }

    /// The values and the read requests of a slot that is a multiple of `every_ms` (each point
    /// whose interval divides it), or of every point when `every_ms` is `None`.
    pub fn cycle_requests(&self, every_ms: Option<u64>) -> (usize, Vec<super::plan::ReadRequest>) {
        let due = (0..self.map.points.len()).filter(|&i| every_ms.is_none_or(|e| e.is_multiple_of(self.point_interval_ms[i])));
        let items = self.items(due);
        let requests = super::plan::plan(&items, self.limits, &Default::default());
        (items.len(), requests)
    }
}
