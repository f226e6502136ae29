"""Which windows are AI assistants: the one place that decides it (curated zone).

Curation asks once per focus change; the answer marks the window's row (``ai_assistant``) and
every key typed while that window had focus (``stream`` ``ai_prompt``, typed content in the
``ai_prompt``-labelled columns). Nothing downstream classifies again: the dataset builder reads
``stream`` and ``ai_assistant`` as curation wrote them.
"""

from __future__ import annotations

import re

from jobshadow.records import WindowInfo

# Windows whose title or application says they are an AI assistant.
AI_ASSISTANT = re.compile(
    r"chatgpt|\bclaude\b|\bgemini\b|\bcopilot\b|perplexity|\bmistral\b|le chat|deepseek|\bgrok\b|"
    r"chat\.openai\.com|claude\.ai|ai studio", re.IGNORECASE)


def is_ai_assistant(window: WindowInfo | None) -> bool:
    if window is None:
        return False
    text = " ".join(v or "" for v in (window.title, window.wm_class, window.wm_instance, window.process))
    return bool(AI_ASSISTANT.search(text))
