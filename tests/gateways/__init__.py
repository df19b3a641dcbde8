"""Real gateways (Debian's nginx, caddy, haproxy) in front of a local upstream, their own
logs through the real shippers, broker, worker and warehouse.

A package so that `test_nginx.py` and `test_caddy.py` do not clash with the parser tests
of the same names in tests/processors/parsers/.
"""
