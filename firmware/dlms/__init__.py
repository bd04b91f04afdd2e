"""DLMS/COSEM server for the optical port (IEC 62056-46 HDLC, A-XDR, xDLMS, IS 15959 objects).

hdlc.py frames bytes, xdlms.py speaks the application layer, objects.py holds the object table,
axdr.py encodes values, gmac.py authenticates HLS, port.py wires them to a serial port.
"""
