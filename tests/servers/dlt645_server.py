#!/usr/bin/env python3
"""An independent DL/T 645-2007 meter for the end-to-end tests: the PyPI package `dlt645`
(Apache-2.0) serving one meter over TCP, or as an RTU slave on a serial device, with the values
given on the command line. Prints "listening" once it serves, then runs until killed.

    dlt645_server.py --tcp 127.0.0.1:PORT --address 000012345678 --set 00010000=12345.67

The address is the nameplate's (most significant digit first); the package's `set_address` wants
the wire order (low byte first), so it is reversed here, as test-services.md says.
"""
import argparse
import time

from dlt645 import MeterServerService

parser = argparse.ArgumentParser()
parser.add_argument("--tcp", help="HOST:PORT to listen on")
parser.add_argument("--serial", help="serial device to answer on")
parser.add_argument("--baud", type=int, default=9600)
parser.add_argument("--address", required=True, help="the nameplate address, 12 digits")
parser.add_argument("--set", action="append", default=[], help="DI=VALUE, the DI in hex (00010000=12.5)")
args = parser.parse_args()

if args.tcp:
    host, port = args.tcp.rsplit(":", 1)
    meter = MeterServerService.new_tcp_server(host, int(port), 5.0)
else:
    meter = MeterServerService.new_rtu_server(args.serial, 8, 1, args.baud, "E", 1.0)
digits = args.address
wire = "".join(digits[i : i + 2] for i in range(len(digits) - 2, -1, -2))
meter.set_address(wire)
for item in args.set:
    di, value = item.split("=")
    di = int(di, 16)
    kind = di >> 24
    ok = meter.set_00(di, float(value)) if kind == 0 else meter.set_02(di, float(value))
    if not ok:
        raise SystemExit(f"the package refused {item}")
meter.start()
print("listening", flush=True)
while True:
    time.sleep(3600)
