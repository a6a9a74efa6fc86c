"""MCP over the official SDK: client connections to configured servers (client.py, transport.py)."""
