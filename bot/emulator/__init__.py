"""A local stand-in for the Teams channel: a Bot Connector on loopback and a terminal chat client."""
