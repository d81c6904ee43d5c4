//! Reading Modbus registers over a line, in whichever framing its endpoint speaks: Modbus TCP
//! through tokio-modbus, RTU frames through the line's port ([`super::rtu`]).

use std::time::Duration;

use tokio_modbus::client::Context;
use tokio_modbus::prelude::*;

use super::plan::ReadRequest;
use super::register::RegisterFunction;
use super::rtu;
use crate::line::error::ReadError;
use crate::line::link::{Conn, Link};

/// Reads the registers of `req` from unit `unit`, connecting first if needed.
pub async fn read_registers(link: &mut Link, unit: u8, req: &ReadRequest, timeout: Duration, pause_after_connect: Duration) -> Result<Vec<u16>, ReadError> {
    let result = match link.connected(timeout, pause_after_connect).await {
        Ok(Conn::ModbusTcp(ctx)) => read_tcp(ctx, unit, req, timeout).await,
        Ok(Conn::Frames(port)) => rtu::read(port, unit, req, timeout).await,
        Err(e) => Err(e),
    };
    link.settle(result)
}

async fn read_tcp(ctx: &mut Context, unit: u8, req: &ReadRequest, timeout: Duration) -> Result<Vec<u16>, ReadError> {
    ctx.set_slave(Slave(unit));
    let call = async {
        match req.function {
            RegisterFunction::Holding => ctx.read_holding_registers(req.start, req.count).await,
            RegisterFunction::Input => ctx.read_input_registers(req.start, req.count).await,
        }
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(ReadError::Timeout(timeout)),
        Ok(Err(tokio_modbus::Error::Transport(e))) => Err(ReadError::Transport(e.to_string())),
        Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(ReadError::Protocol(e.to_string())),
        Ok(Ok(Err(code))) => Err(ReadError::Exception {
            code: u8::from(code),
            name: format!("{code:?}"),
        }),
        Ok(Ok(Ok(regs))) if regs.len() != usize::from(req.count) => Err(ReadError::Protocol(format!(
            "asked for {} registers, got {}",
            req.count,
            regs.len()
        ))),
        Ok(Ok(Ok(regs))) => Ok(regs),
    }
}
