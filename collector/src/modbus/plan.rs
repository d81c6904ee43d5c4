//! Request planning: the fewest read requests that cover a cycle's points.

use std::collections::HashSet;
use std::fmt;

use super::profile::Location;
use super::register::RegisterFunction;

/// The protocol's limit on registers in one read response.
pub const MAX_REGISTERS: u16 = 125;

/// What a value in a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// Index of a point in the device's register map.
    Point(usize),
    /// Index of a scale register in the device's register map.
    Scale(usize),
}

/// A value to read, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub target: Target,
    pub location: Location,
}

/// One read request and the values it returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub function: RegisterFunction,
    pub start: u16,
    pub count: u16,
    pub items: Vec<Item>,
}

impl ReadRequest {
    /// A request for `count` registers from `start` alone, outside any plan: a probe, a scan,
    /// a value asked for by hand.
    pub fn single(function: RegisterFunction, start: u16, count: u16) -> Self {
        Self { function, start, count, items: Vec::new() }
    }

    /// The registers of `item` within a response to this request.
    pub fn slice<'a>(&self, item: &Item, response: &'a [u16]) -> &'a [u16] {
        let from = usize::from(item.location.address - self.start);
        &response[from..from + usize::from(item.location.data_type.words())]
    }
}

impl fmt::Display for ReadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fc{:02} {} start {} (0x{:04X}) count {} -> {} value(s)",
            self.function.code(),
            self.function,
            self.start,
            self.start,
            self.count,
            self.items.len()
        )
    }
}

/// How far merging may go on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many registers a request (1..=125); 1 means every value is read alone.
    pub max_registers: u16,
    /// Largest run of unwanted registers read to join two values into one request.
    pub max_gap: u16,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_registers: MAX_REGISTERS, max_gap: 10 }
    }
}

/// Plans requests covering `items`. Values of one function code that lie within `max_gap`
/// registers of each other are merged while the request stays within `max_registers`; items in
/// `isolated` (values whose merged read a device refused) are always read alone. A value is never
/// split across requests, so a value wider than `max_registers` is read in one request of its
/// own width.
pub fn plan(items: &[Item], limits: Limits, isolated: &HashSet<Target>) -> Vec<ReadRequest> {
    let mut sorted: Vec<Item> = items.to_vec();
    sorted.sort_by_key(|i| (i.location.function, i.location.address, i.location.end(), i.target));
    let mut out: Vec<ReadRequest> = Vec::new();
    let mut open: Option<(ReadRequest, u32)> = None; // request and its end (exclusive)
    for item in sorted {
        let (addr, end) = (u32::from(item.location.address), item.location.end());
        let alone = isolated.contains(&item.target);
        if let Some((req, req_end)) = open.as_mut() {
            let fits = !alone
                && req.function == item.location.function
                && addr <= *req_end + u32::from(limits.max_gap)
                && end.max(*req_end) - u32::from(req.start) <= u32::from(limits.max_registers);
            if fits {
                *req_end = (*req_end).max(end);
                req.count = (*req_end - u32::from(req.start)) as u16;
                req.items.push(item);
                continue;
            }
        }
        if let Some((req, _)) = open.take() {
            out.push(req);
        }
        let req = ReadRequest {
            function: item.location.function,
            start: item.location.address,
            count: item.location.data_type.words(),
            items: vec![item],
        };
        if alone {
            out.push(req);
        } else {
            open = Some((req, end));
        }
    }
    out.extend(open.map(|(req, _)| req));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::register::{DataType, WordOrder};

    fn item(n: usize, function: RegisterFunction, address: u16, data_type: DataType) -> Item {
        Item { target: Target::Point(n), location: Location { function, address, data_type, order: WordOrder::ABCD } }
    }
    const H: RegisterFunction = RegisterFunction::Holding;
    const I: RegisterFunction = RegisterFunction::Input;

    fn shape(reqs: &[ReadRequest]) -> Vec<(u8, u16, u16, usize)> {
        reqs.iter().map(|r| (r.function.code(), r.start, r.count, r.items.len())).collect()
    }

    #[test]
    fn contiguous_values_merge_into_one_request() {
        let items: Vec<Item> = (0..10).map(|n| item(n, I, n as u16 * 2, DataType::F32)).collect();
        assert_eq!(shape(&plan(&items, Limits::default(), &HashSet::new())), vec![(4, 0, 20, 10)]);
    }

    #[test]
    fn gaps_up_to_the_limit_are_read_through() {
        // 0..2, then 12..14 (gap 10), then 25..26 (gap 11).
        let items = [item(0, H, 0, DataType::U32), item(1, H, 12, DataType::U32), item(2, H, 25, DataType::U16)];
        let limits = Limits { max_registers: 125, max_gap: 10 };
        assert_eq!(shape(&plan(&items, limits, &HashSet::new())), vec![(3, 0, 14, 2), (3, 25, 1, 1)]);
        let limits = Limits { max_registers: 125, max_gap: 0 };
        assert_eq!(shape(&plan(&items, limits, &HashSet::new())).len(), 3);
    }

    #[test]
    fn the_125_register_limit_splits_requests() {
        // 100 float32 values back to back: 200 registers -> 125 + 75... but never a value split:
        // 62 values (124 registers) fit, the 63rd would end at 126.
        let items: Vec<Item> = (0..100).map(|n| item(n, H, n as u16 * 2, DataType::F32)).collect();
        let reqs = plan(&items, Limits::default(), &HashSet::new());
        assert_eq!(shape(&reqs), vec![(3, 0, 124, 62), (3, 124, 76, 38)]);
        assert!(reqs.iter().all(|r| r.count <= MAX_REGISTERS));
    }

    #[test]
    fn function_codes_never_mix() {
        let items = [item(0, H, 0, DataType::U16), item(1, I, 1, DataType::U16), item(2, H, 2, DataType::U16)];
        assert_eq!(shape(&plan(&items, Limits::default(), &HashSet::new())), vec![(3, 0, 3, 2), (4, 1, 1, 1)]);
    }

    #[test]
    fn one_register_per_request_and_isolated_values() {
        let items = [item(0, H, 0, DataType::U16), item(1, H, 1, DataType::F32), item(2, H, 3, DataType::U16)];
        let one = Limits { max_registers: 1, max_gap: 10 };
        // The f32 still goes out whole.
        assert_eq!(shape(&plan(&items, one, &HashSet::new())), vec![(3, 0, 1, 1), (3, 1, 2, 1), (3, 3, 1, 1)]);
        let isolated = HashSet::from([Target::Point(1)]);
        assert_eq!(shape(&plan(&items, Limits::default(), &isolated)), vec![(3, 0, 1, 1), (3, 1, 2, 1), (3, 3, 1, 1)]);
    }

    #[test]
    fn overlapping_values_share_registers() {
        let items = [item(0, H, 10, DataType::U64), item(1, H, 12, DataType::U16)];
        let reqs = plan(&items, Limits::default(), &HashSet::new());
        assert_eq!(shape(&reqs), vec![(3, 10, 4, 2)]);
        let response = [1, 2, 3, 4];
        assert_eq!(reqs[0].slice(&reqs[0].items[1], &response), &[3]);
    }
}
