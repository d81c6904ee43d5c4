#!/usr/bin/python3
"""An independent Modbus TCP server for the end-to-end tests: pymodbus (Debian's
python3-pymodbus), serving the registers listed in a JSON file and nothing else, so a read that
spans an unlisted register gets exception 02 as from a real meter with holes in its map.

usage: pymodbus_server.py PORT REGISTERS.json
REGISTERS.json: [{"function": "holding"|"input", "address": N, "registers": ["1234", ...]}, ...]
(register values in hex, exactly as they go on the wire).
"""
import json
import logging
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartTcpServer


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        blocks = json.load(f)
    tables = {"holding": {}, "input": {}}
    for block in blocks:
        for i, word in enumerate(block["registers"]):
            tables[block["function"]][block["address"] + i] = int(word, 16)
    # zero_mode: address N in a request is register N, with no +1 shift.
    slave = ModbusSlaveContext(
        hr=ModbusSparseDataBlock(tables["holding"]),
        ir=ModbusSparseDataBlock(tables["input"]),
        zero_mode=True,
    )
    context = ModbusServerContext(slaves=slave, single=True)
    logging.basicConfig(level=logging.WARNING)
    StartTcpServer(context=context, address=("127.0.0.1", port))


if __name__ == "__main__":
    main()
