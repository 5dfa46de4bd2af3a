"""Intake adapters: bytes from outside in, a validated intake command out.

One module per wire format (the load file, the native gateway event and its signature, the
lockbox CSV and BAI files). An adapter only translates; what the money does is decided by the
services and the domain.
"""
