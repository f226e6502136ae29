"""jobshadow: record how people complete computer tasks, with privacy enforced in code."""

__version__ = "0.1.0"
