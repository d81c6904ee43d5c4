#!/usr/bin/env python3
"""Meters of three protocols on one RS-485 line, for the end-to-end tests: the far end of a
pseudo-terminal answering Modbus RTU (read holding/input registers), DL/T 645-2007 (read data)
and CJ/T 188 (DI 901FH) requests, each for its own meters, as a bus does: a request for an
address nobody has gets silence. Written from the protocols' published frames, apart from the
collector's codecs. Prints "listening" once the port is open; runs until killed.

    mixed_bus.py --serial PTY --modbus 1:62:123456 --dlt645 000012345678:00010000:12345.67 \
        --cjt188 10:00000000000001:1234.56
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
        buf += os.read(fd, 256)
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
                    di = bytes((b - 0x33) & 0xFF for b in frame[10:14])
                    value = dlt.get((frame[1:7], di))
                    if frame[8] != 0x11 or value is None:
                        continue
                    item = bcd(value, 4, 2) if di[3] == 0x00 else bcd(value, 2, 1)
                    data = bytes((b + 0x33) & 0xFF for b in di + item)
                    body = b"\x68" + frame[1:7] + b"\x68\x91" + bytes([len(data)]) + data
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
