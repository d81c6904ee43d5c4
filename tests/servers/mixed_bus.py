#!/usr/bin/env python3
"""Meters of three protocols on one RS-485 line, for the end-to-end tests: the far end of a
pseudo-terminal answering Modbus RTU (read holding/input registers), DL/T 645-2007 (read data)
and CJ/T 188 (DI 901FH) requests, each for its own meters, as a bus does: a request for an
address nobody has gets silence. Written from the protocols' published frames, apart from the
collector's codecs. Prints "listening" once the port is open; runs until killed.

    mixed_bus.py --serial PTY --modbus 1:62:123456 --dlt645 000012345678:00010000:12345.67 \
        --cjt188 10:00000000000001:1234.56

A DL/T 645 meter given with --dlt645-clock ADDRESS:OFFSET_S keeps a clock (UTC+8, off by
OFFSET_S seconds) and settles on the 1st at 00:00; --dlt645-billing ADDRESS:DI:NOW:STEP gives
it an energy item whose value at the n-th last settlement (DI0 = n) is NOW - n * STEP.
"""
import argparse
import datetime
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


def bcd(value, nbytes, decimals):
    digits = str(abs(round(value * 10**decimals))).zfill(nbytes * 2)
    return bytes(reversed([int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]))


def wire(nameplate):
    return bytes(int(nameplate[i : i + 2], 16) for i in range(len(nameplate) - 2, -1, -2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--serial", required=True)
    p.add_argument("--modbus", action="append", default=[], help="UNIT:REGISTER:INT32")
    p.add_argument("--dlt645", action="append", default=[], help="ADDRESS:DI:VALUE (XXXXXX.XX or XXX.X by DI)")
    p.add_argument("--cjt188", action="append", default=[], help="TYPE:ADDRESS:M3")
    p.add_argument("--dlt645-1997", action="append", default=[], help="ADDRESS:DI(4 hex):VALUE, a 1997-edition meter")
    p.add_argument("--dlt645-clock", action="append", default=[], help="ADDRESS:OFFSET_S")
    p.add_argument("--dlt645-billing", action="append", default=[], help="ADDRESS:DI:NOW:STEP")
    p.add_argument("--echo", action="store_true", help="send every byte heard back at once, as a half-duplex adapter hears itself")
    a = p.parse_args()
    registers = {}
    for m in a.modbus:
        unit, reg, value = (int(x) for x in m.split(":"))
        v = value & 0xFFFFFFFF
        registers[(unit, reg)] = v >> 16
        registers[(unit, reg + 1)] = v & 0xFFFF
    dlt = {}
    for d in a.dlt645:
        addr, di, value = d.split(":")
        dlt[(wire(addr), bytes.fromhex(di)[::-1])] = float(value)
    old = {}
    for d in a.dlt645_1997:
        addr, di, value = d.split(":")
        old[(wire(addr), bytes.fromhex(di)[::-1])] = float(value)
    clocks = {}
    for c in a.dlt645_clock:
        addr, off = c.split(":")
        clocks[wire(addr)] = float(off)
    billing = {}
    for b in a.dlt645_billing:
        addr, di, now, step = b.split(":")
        billing[(wire(addr), bytes.fromhex(di)[::-1])] = (float(now), float(step))
    cjt = {}
    for c in a.cjt188:
        t, addr, value = c.split(":")
        cjt[(int(t, 16), wire(addr))] = float(value)

    fd = os.open(a.serial, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    print("listening", flush=True)
    buf = b""
    while True:
        heard = os.read(fd, 256)
        if a.echo:
            os.write(fd, heard)
        buf += heard
        while buf:
            while buf[:1] == b"\xfe":
                buf = buf[1:]
            if not buf:
                break
            if buf[0] == 0x68:
                if len(buf) < 11:
                    break
                if buf[7] == 0x68:  # DL/T 645: 68 A0..A5 68 C L data CS 16
                    need = 12 + buf[9]
                    if len(buf) < need:
                        break
                    frame, buf = buf[:need], buf[need:]
                    addr = frame[1:7]
                    if frame[8] == 0x01:  # the 1997 edition: a two-byte identifier, answer 81H
                        di = bytes((b - 0x33) & 0xFF for b in frame[10:12])
                        value = old.get((addr, di))
                        if value is None:
                            continue
                        if di[1] == 0x90:
                            item = bcd(value, 4, 2)
                        elif di[1] == 0xB6 and di[0] >> 4 == 1:
                            item = bcd(value, 2, 0)
                        else:
                            item = bcd(value, 2, 2)
                        data = bytes((b + 0x33) & 0xFF for b in di + item)
                        body = b"\x68" + addr + b"\x68\x81" + bytes([len(data)]) + data
                        time.sleep(0.02)
                        os.write(fd, b"\xfe\xfe\xfe\xfe" + body + bytes([sum(body) & 0xFF, 0x16]))
                        continue
                    di = bytes((b - 0x33) & 0xFF for b in frame[10:14])
                    item = None
                    if addr in clocks and di[3] == 0x04:
                        now = datetime.datetime.utcnow() + datetime.timedelta(hours=8, seconds=clocks[addr])
                        two = lambda v: int(str(v).zfill(2)[-2:], 16)
                        if di == bytes([0x01, 0x01, 0x00, 0x04]):  # YYMMDDWW, low byte first
                            item = bytes([two((now.isoweekday()) % 7), two(now.day), two(now.month), two(now.year % 100)])
                        elif di == bytes([0x02, 0x01, 0x00, 0x04]):  # hhmmss
                            item = bytes([two(now.second), two(now.minute), two(now.hour)])
                        elif di == bytes([0x01, 0x0B, 0x00, 0x04]):  # DDhh: the 1st at 00:00
                            item = bytes([0x00, 0x01])
                    elif (addr, bytes([0]) + di[1:]) in billing and di[0] > 0:
                        now_value, step = billing[(addr, bytes([0]) + di[1:])]
                        item = bcd(now_value - di[0] * step, 4, 2)
                    else:
                        value = dlt.get((addr, di))
                        if value is not None:
                            item = bcd(value, 4, 2) if di[3] == 0x00 else bcd(value, 2, 1)
                    known = addr in clocks or any(k[0] == addr for k in list(dlt) + list(billing))
                    if frame[8] != 0x11 or not known:
                        continue
                    if item is None:  # a meter without the item: exception, "no data requested"
                        body = b"\x68" + addr + b"\x68\xd1\x01" + bytes([0x02 + 0x33])
                    else:
                        data = bytes((b + 0x33) & 0xFF for b in di + item)
                        body = b"\x68" + addr + b"\x68\x91" + bytes([len(data)]) + data
                    answer = b"\xfe\xfe\xfe\xfe" + body + bytes([sum(body) & 0xFF, 0x16])
                else:  # CJ/T 188: 68 T A0..A6 C L DI0 DI1 SER CS 16
                    need = 13 + buf[10]
                    if len(buf) < need:
                        break
                    frame, buf = buf[:need], buf[need:]
                    value = cjt.get((frame[1], frame[2:9]))
                    if frame[9] != 0x01 or value is None:
                        continue
                    clock = bytes([0x31, 0x01, 0x22, 0x11, 0x05, 0x15, 0x20])
                    data = frame[11:14] + bcd(value, 4, 2) + b"\x2c" + bcd(value, 4, 2) + b"\x2c" + clock + b"\x00\x00"
                    body = bytes([0x68, frame[1]]) + frame[2:9] + bytes([0x81, len(data)]) + data
                    answer = b"\xfe\xfe\xfe\xfe" + body + bytes([sum(body) & 0xFF, 0x16])
            else:  # Modbus RTU: unit, 03/04, start, count, CRC
                if len(buf) < 8:
                    break
                frame, buf = buf[:8], buf[8:]
                unit, function = frame[0], frame[1]
                start, count = int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[4:6], "big")
                regs = [registers.get((unit, r)) for r in range(start, start + count)]
                if function not in (3, 4) or None in regs:
                    continue
                body = bytes([unit, function, 2 * count]) + b"".join(r.to_bytes(2, "big") for r in regs)
                answer = body + crc16(body).to_bytes(2, "little")
            time.sleep(0.02)  # the meter's turnaround
            os.write(fd, answer)


main()
