//! Modbus: register layouts, decoding, meter profiles, request planning, and the poller.

pub mod decode;
pub mod device;
pub mod read;
pub mod plan;
pub mod poller;
pub mod profile;
pub mod register;
pub mod rtu;
