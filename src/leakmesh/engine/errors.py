"""Exceptions raised by the engine."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of engine errors."""


class RuleError(EngineError):
    """A rule or rule file is invalid; the message names the rule and the problem."""
