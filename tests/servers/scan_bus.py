#!/usr/bin/env python3
"""Meters of three protocols on one RS-485 line, for the `collector scan` test: the far end of a
pseudo-terminal answering what a scan asks. Modbus RTU units answer any holding/input register
read (or an exception, when given one); DL/T 645-2007 meters answer read address (13H) to the
wildcard or their own address; CJ/T 188 meters answer read address (03H, DI 810AH) to type AAH or
their own, at the wildcard or their own address. Written from the protocols' published frames,
apart from the collector's codecs. mixed_bus.py answers the reads of polling, not these.

When several meters answer one request, --several says what the master hears: "garble" (the
default), their answers at once, byte by byte ANDed (RS-485 drivers fighting: a driven 0 wins the
idle-high line, roughly); "in_turn", each answer whole, 80 ms after the one before (meters with
different turnarounds). Prints "listening" once the port is open; runs until killed.

    scan_bus.py --serial PTY --modbus 3 --modbus 17:2 --dlt645 000012345678 \
        --cjt188 10:00000000000001
"""
import argparse
import os
import termios
import time
import tty


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def wire(nameplate):
    """Nameplate digits (most significant first) as the wire sends them, low byte first."""
    return bytes(int(nameplate[i : i + 2], 16) for i in range(len(nameplate) - 2, -1, -2))


def matches(asked, address):
    """An address field (wire order) reaches a meter: all AAH, or its own address, where a
    leading run of A digits (DL/T 645 abbreviated addressing) matches any digit."""
    a, m = asked[::-1].hex().upper(), address[::-1].hex().upper()
    lead = len(a) - len(a.lstrip("A"))
    return a[lead:] == m[lead:]


def frame(body):
    return body + bytes([sum(body) & 0xFF, 0x16])


def dlt645_answers(request, meters):
    # 68 A0..A5 68 C L [data] CS 16
    if request[8] != 0x13:
        return []
    out = []
    for address in meters:
        if matches(request[1:7], address):
            data = bytes((b + 0x33) & 0xFF for b in address)
            out.append(b"\xfe\xfe\xfe\xfe" + frame(b"\x68" + address + b"\x68\x93" + bytes([len(data)]) + data))
    return out


def cjt188_answers(request, meters):
    # 68 T A0..A6 C L DI0 DI1 SER CS 16
    if request[9] != 0x03 or request[10] != 3 or request[11:13] not in (b"\x81\x0a", b"\x0a\x81"):
        return []
    out = []
    for meter_type, address in meters:
        if request[1] in (0xAA, meter_type) and matches(request[2:9], address):
            # The answer carries DI and SER as asked (scribd "SHORT rs485 communication protocol").
            body = bytes([0x68, meter_type]) + address + b"\x83\x03" + request[11:14]
            out.append(b"\xfe\xfe\xfe" + frame(body))
    return out


def modbus_answer(request, units):
    unit, function = request[0], request[1]
    if crc16(request[:6]).to_bytes(2, "little") != request[6:8] or unit not in units or function not in (3, 4):
        return []
    exception = units[unit]
    if exception:
        body = bytes([unit, function | 0x80, exception])
    else:
        count = int.from_bytes(request[4:6], "big")
        body = bytes([unit, function, 2 * count]) + bytes(2 * count)
    return [body + crc16(body).to_bytes(2, "little")]


def garble(answers):
    """Answers sent at once: each byte time carries the AND of what every driver sends."""
    out = bytearray(max(len(a) for a in answers))
    for i in range(len(out)):
        byte = 0xFF
        for a in answers:
            if i < len(a):
                byte &= a[i]
        out[i] = byte
    return bytes(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--serial", required=True)
    p.add_argument("--modbus", action="append", default=[], help="UNIT or UNIT:EXCEPTION_CODE")
    p.add_argument("--dlt645", action="append", default=[], help="ADDRESS (12 digits)")
    p.add_argument("--cjt188", action="append", default=[], help="TYPE:ADDRESS (type in hex, 14 digits)")
    p.add_argument("--several", choices=["garble", "in_turn"], default="garble")
    a = p.parse_args()
    units = {}
    for m in a.modbus:
        unit, _, exception = m.partition(":")
        units[int(unit)] = int(exception, 16) if exception else 0
    dlt = [wire(d) for d in a.dlt645]
    cjt = [(int(t, 16), wire(addr)) for t, addr in (c.split(":") for c in a.cjt188)]

    fd = os.open(a.serial, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    print("listening", flush=True)
    buf = b""
    while True:
        buf += os.read(fd, 256)
        while buf:
            while buf[:1] == b"\xfe":
                buf = buf[1:]
            if not buf:
                break
            if buf[0] == 0x68:
                if len(buf) < 11:
                    break
                need = 12 + buf[9] if buf[7] == 0x68 else 13 + buf[10]
                if len(buf) < need:
                    break
                request, buf = buf[:need], buf[need:]
                # DL/T 645 has its second 68H after six address bytes; CJ/T 188 a type and seven.
                answers = dlt645_answers(request, dlt) if request[7] == 0x68 else cjt188_answers(request, cjt)
            else:  # Modbus RTU: unit, function, start, count, CRC
                if len(buf) < 8:
                    break
                request, buf = buf[:8], buf[8:]
                answers = modbus_answer(request, units)
            if not answers:
                continue
            time.sleep(0.02)  # the meters' turnaround
            if len(answers) == 1 or a.several == "garble":
                os.write(fd, garble(answers))
            else:
                for answer in answers:
                    os.write(fd, answer)
                    time.sleep(0.08)


main()
