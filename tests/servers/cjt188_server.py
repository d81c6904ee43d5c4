#!/usr/bin/env python3
"""CJ/T 188 meters behind one serial server (DTU) for the end-to-end tests: a TCP listener
passing raw frames, with the meters given on the command line answering DI 901FH as the
published examples lay it out (values BCD low byte first, each followed by its unit code; the
clock seconds first; four FEH before each answer). Written from the public examples, apart
from the collector's codec. Prints "listening" once it serves; runs until killed.

    cjt188_server.py --port P --water 10:00000000000001:1234.56 \
        --heat 20:00000000000002:98765.43:12.34:1.2345:4321.09
"""
import argparse
import datetime
import socket
import threading


def bcd(value, nbytes, decimals):
    digits = str(round(value * 10**decimals)).zfill(nbytes * 2)
    pairs = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
    return bytes(reversed(pairs))


def address_wire(nameplate):
    return bytes(int(nameplate[i : i + 2], 16) for i in range(12, -1, -2))


CLOCK = bytes([0x31, 0x01, 0x22, 0x11, 0x05, 0x15, 0x20])  # 2015-05-11 22:01:31
STATUS = bytes([0x00, 0x00])
CLOCK_NOW = False  # --clock-now: the meters keep UTC+8 time


def clock():
    if not CLOCK_NOW:
        return CLOCK
    t = datetime.datetime.utcnow() + datetime.timedelta(hours=8)
    two = lambda v: int(str(v).zfill(2)[-2:], 16)
    return bytes([two(t.second), two(t.minute), two(t.hour), two(t.day), two(t.month), two(t.year % 100), two(t.year // 100)])


def payload(meter):
    if meter["kind"] == "water":
        # The settlement day's total: 10 m3 less than now.
        return bcd(meter["volume"], 4, 2) + b"\x2c" + bcd(meter["volume"] - 10, 4, 2) + b"\x2c" + clock() + STATUS
    m = meter
    return (
        bcd(m["heat"] - 100, 4, 2) + b"\x05"  # the settlement day's heat: 100 kWh less
        + bcd(m["heat"], 4, 2) + b"\x05"
        + bcd(m["power"], 4, 2) + b"\x17"
        + bcd(m["flow"], 4, 4) + b"\x35"
        + bcd(m["volume"], 4, 2) + b"\x2c"
        + bcd(75.5, 3, 2) + bcd(45.25, 3, 2) + bcd(1234, 3, 0)
        + clock() + STATUS
    )


def answer(meter_type, wire, di, ser, data):
    body = bytes([0x68, meter_type]) + wire + bytes([0x81, 3 + len(data)]) + di + bytes([ser]) + data
    return b"\xfe\xfe\xfe\xfe" + body + bytes([sum(body) & 0xFF, 0x16])


def serve(conn, meters):
    buf = b""
    with conn:
        while True:
            chunk = conn.recv(256)
            if not chunk:
                return
            buf += chunk
            while True:
                start = buf.find(b"\x68")
                if start < 0 or len(buf) < start + 11:
                    break
                need = start + 13 + buf[start + 10]
                if len(buf) < need:
                    break
                frame, buf = buf[start:need], buf[need:]
                meter_type, wire, control = frame[1], frame[2:9], frame[9]
                di, ser = frame[11:13], frame[13]
                meter = meters.get((meter_type, bytes(wire)))
                if meter is None or control != 0x01 or di not in (b"\x1f\x90", b"\x90\x1f"):
                    continue  # not ours: on a bus, silence
                conn.sendall(answer(meter_type, wire, di, ser, payload(meter)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--water", action="append", default=[], help="TYPE:ADDRESS:VOLUME")
    p.add_argument("--heat", action="append", default=[], help="TYPE:ADDRESS:HEAT_KWH:POWER_KW:FLOW_M3H:VOLUME_M3")
    p.add_argument("--clock-now", action="store_true", help="send the current UTC+8 time, not 2015's")
    a = p.parse_args()
    global CLOCK_NOW
    CLOCK_NOW = a.clock_now
    meters = {}
    for w in a.water:
        t, addr, v = w.split(":")
        meters[(int(t, 16), address_wire(addr))] = {"kind": "water", "volume": float(v)}
    for h in a.heat:
        t, addr, heat, power, flow, volume = h.split(":")
        meters[(int(t, 16), address_wire(addr))] = {"kind": "heat", "heat": float(heat), "power": float(power), "flow": float(flow), "volume": float(volume)}
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(4)
    print("listening", flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn, meters), daemon=True).start()


main()
