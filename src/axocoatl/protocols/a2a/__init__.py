"""A2A (Agent2Agent) through the official a2a-sdk: the task store over our database, agent cards, the client."""
