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
use crate::modbus::link::ReadError;
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
        let v = master::value(frame, request, item)?;
        // The item's unit into the quantity's canonical unit.
        let v = item.unit.convert(v, item.quantity.canonical_unit()).map_err(|e| ReadError::Protocol(e.to_string()))?;
        Ok(Decoded::values(vec![(*i, v)]))
    }

    fn outputs_of(&self, (_, i): &Self::Request) -> Vec<usize> {
        vec![*i]
    }
}
