"""The governance door's HTTP face for people (door process; holds the door, so every key).

Every administrative, governance, audit, subject-rights, query, curation and dataset request is a
request to the door signed by the logged-in person (``jobshadow login``), checked by the same
``RequestVerifier`` devices pass at the collector, then by role (``jobshadow.api.ops``), then by
the door's own rules. Every refusal is audited with who asked.

* ``ops`` — the operations, the roles allowed each one, and the role check;
* ``ops_programme`` / ``ops_lake`` — what each operation does (argument wiring over the door);
* ``app`` — the Starlette app: login, signed operations, the governed query API;
* ``client`` — a person's identity under ``JOBSHADOW_HOME`` and the signed client the CLI uses.
"""
