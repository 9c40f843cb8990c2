"""What several test modules share, imported one way: ``from tests._support.<module> import …``.

- ``repo``: paths into this checkout (the shipped catalogs and the pages rendered from them).
- ``seeds``: the two published pages beside the checkout, skipped (or required) when absent.
- ``wire``: mocked provider endpoints and canned replies (respx), fake credentials.
- ``stores``: the preference-store backends the store tests run against.
"""
