//! A DL/T 645 meter as the line's request-answer poller drives it ([`crate::poll::meter`]): one
//! read request per data item of its profile, each answer checked and its value converted to the
//! item quantity's canonical unit.

use std::time::Duration;

use readings::MeterId;

use super::codec::Request;
use super::device::Device;
use super::master;
use crate::line::port::FrameLength;
use crate::line::Endpoint;
use crate::line::error::ReadError;
use crate::poll::meter::{Decoded, MeterProtocol, Output};

/// The poller of one DL/T 645 meter.
pub type MeterPoller = crate::poll::meter::MeterPoller<Dlt645Meter>;

/// A DL/T 645 meter and the outputs its items are stored as.
pub struct Dlt645Meter {
    device: Device,
    outputs: Vec<Output>,
}

impl Dlt645Meter {
    /// The protocol side of `device`.
    pub fn new(device: Device) -> Self {
        let outputs = device.items.iter().map(|i| Output { quantity: i.quantity, medium: i.medium, kind: i.kind }).collect();
        Self { device, outputs }
    }
}

impl MeterProtocol for Dlt645Meter {
    /// The request and the index of its item.
    type Request = (Request, usize);

    fn meter(&self) -> &MeterId {
        &self.device.meter
    }
    fn endpoint(&self) -> &Endpoint {
        &self.device.endpoint
    }
    fn interval(&self) -> Duration {
        self.device.interval.0
    }
    fn timeout(&self) -> Duration {
        self.device.timeout.0
    }
    fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    fn requests(&self) -> Vec<(Self::Request, Vec<u8>)> {
        self.device
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let request = master::request(&self.device.address, item);
                let bytes = master::encode(&request, self.device.preamble);
                ((request, i), bytes)
            })
            .collect()
    }

    fn frame_length(&self) -> FrameLength {
        master::frame_length
    }

    fn decode(&self, (request, i): &Self::Request, frame: &[u8]) -> Result<Decoded, ReadError> {
        let item = &self.device.items[*i];
        let (v, garbage) = master::value(frame, request, item)?;
        // The item's unit into the quantity's canonical unit.
        let v = item.unit.convert(v, item.quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string()))?;
        Ok(Decoded { values: vec![(*i, v)], garbage, ..Decoded::default() })
    }

    fn outputs_of(&self, (_, i): &Self::Request) -> Vec<usize> {
        vec![*i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlt645::codec::{encode_frame, MeterAddress};
    use crate::dlt645::profile::Profile;

    fn meter() -> Dlt645Meter {
        let items = Profile::builtin("dlt645_generic_3phase").unwrap().unwrap().items;
        let address: MeterAddress = "000012345678".parse().unwrap();
        Dlt645Meter::new(Device {
            meter: "boundary".parse().unwrap(),
            endpoint: Endpoint::Tcp { host: "127.0.0.1".into(), port: 1, framing: crate::line::Framing::RtuOverTcp },
            address,
            profile: "dlt645_generic_3phase".into(),
            items,
            interval: crate::settings::HumanDuration(Duration::from_secs(60)),
            timeout: crate::settings::HumanDuration(Duration::from_secs(1)),
            preamble: 4,
            backfill: false,
            daily_freezes: 0,
            utc_offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
            clock_tolerance: crate::settings::HumanDuration(Duration::from_secs(300)),
        })
    }

    /// Noise before the answer is counted apart (wake-up bytes are not noise); the value is read.
    #[test]
    fn noise_before_an_answer_is_counted_and_the_value_read() {
        let m = meter();
        let requests = m.requests();
        let (request, _) = &requests[0];
        // 12345.67 kWh of forward active energy: DI 00 01 00 00 low byte first, then BCD.
        let data = [0x00, 0x00, 0x01, 0x00, 0x67, 0x45, 0x23, 0x01];
        let mut frame = vec![0x11, 0x22, 0x33];
        frame.extend(encode_frame(m.device.address.wire(), 0x91, &data, 2).unwrap());
        let got = m.decode(request, &frame).unwrap();
        assert_eq!(got.values, vec![(0, 12345.67)]);
        assert_eq!(got.garbage, 3);
    }
}
