"""The demo: a sample upstream API and a seeded, fully wired Tollway."""
