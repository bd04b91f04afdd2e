"""The harness's name for the host link client, which lives in host_tools/link.py (meterctl and
the provisioning code use it too)."""
from host_tools.link import Link, LinkError, MeterError, mac, parse_reply, split_reply

__all__ = ["Link", "LinkError", "MeterError", "mac", "parse_reply", "split_reply"]
