"""The domain: money, the calendar, journals, the order and receipt aggregates and their rules.

Plain Python with no database, broker, web server or file format in it: every business rule of
arledger lives here once and is unit-tested without I/O.
"""
