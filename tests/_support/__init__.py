"""What several test modules share, imported one way: ``from tests._support.<module> import …``.

- ``repo``: paths into this checkout (the shipped catalogs, config, the optional seed pages).
- ``wire``: mocked provider endpoints and canned replies (respx), fake credentials.
- ``stores``: the preference-store backends the store tests run against.
"""
