"""Axocoatl: a runtime for persistent, self-coordinating multi-agent LLM systems."""

__version__ = "0.1.0"
