"""Televisit's conformance kit: checks any backend against the contract, black-box.

It knows only the two contract documents (`openapi.json`, `asyncapi.json`) and the prose of
`docs/realtime.md`; it never imports Televisit. Run it with `python -m conformance URL ...`.
"""
