"""Curation: landed segments become curated, labelled, sealed lake rows (curated zone; the pipeline).

* ``stage`` — the stage itself: every landed segment not curated yet, through the governance door,
  with the redact stage over its screen (``jobshadow.redact.media``);
* ``rows`` — one segment's records as curated rows and media (pure; the dataset builder uses it
  for a contributor's own segments too);
* ``assistants`` — which windows are AI assistants (decided here, once).
"""

from jobshadow.curate.stage import CurationReport, curate, curate_one

__all__ = ["CurationReport", "curate", "curate_one"]
