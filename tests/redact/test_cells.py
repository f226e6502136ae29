"""Values across lines and in table columns, from words with boxes (no OCR): wrapped values,
header keywords over a column, a lone password in a column of keys, look-alikes beside secrets."""

from __future__ import annotations

from jobshadow.redact import cells, detect, shapes
from jobshadow.redact.model import Box, Word

CW, H = 9, 16  # character width and word height of the fake font


def cell_words(x: int, y: int, text: str, conf: float = 95.0) -> list[Word]:
    """``text`` as words starting at ``x`` (one space between words)."""
    out = []
    for tok in text.split(" "):
        out.append(Word(tok, Box(x, y, CW * len(tok), H), conf))
        x += CW * (len(tok) + 1)
    return out


def row(y: int, *texts: tuple[int, str]) -> list[Word]:
    return [w for x, t in texts for w in cell_words(x, y, t)]


def covered(words: list[Word]) -> set[str]:
    found = detect.find(words)
    return {w.text for w in words if any(f.box.overlap(w.box) for f in found)}


def test_an_address_wrapped_in_a_table_cell_is_masked_on_both_lines() -> None:
    ws = row(10, (10, "10"), (60, "William Le"), (200, "peggy+worker@stark-"), (420, "(201) 762-6479"),
             (640, "03/03/2025"))
    ws += row(30, (200, "industries.de"))
    ws += row(52, (10, "11"), (60, "Holly Gutierrez"), (200, "Mouth"), (640, "05.07.2023"))
    got = covered(ws)
    assert {"peggy+worker@stark-", "industries.de"} <= got
    assert {"Mouth", "03/03/2025", "05.07.2023", "William", "Le"}.isdisjoint(got)


def test_an_address_broken_anywhere_at_a_pane_edge() -> None:
    ws = row(10, (10, "please write to grace.martin@exam")) + row(30, (10, "ple.org before friday"))
    got = covered(ws)
    assert {"grace.martin@exam", "ple.org"} <= got
    assert {"please", "write", "before", "friday"}.isdisjoint(got)


def test_a_key_wrapped_onto_the_next_line_goes_with_its_rest() -> None:
    ws = row(10, (10, "token ghp_16C7e42F292c6912E7710c838347Ae")) + row(30, (10, "178B4aQz9 thanks all"))
    got = covered(ws)
    assert {"ghp_16C7e42F292c6912E7710c838347Ae", "178B4aQz9"} <= got
    assert {"token", "thanks", "all"}.isdisjoint(got)


def test_a_head_broken_before_the_key_is_recognised_is_joined() -> None:
    ws = row(10, (10, "use this one ghp_")) + row(30, (10, "16C7e42F292c6912E7710c838347Ae178B4a today"))
    assert {"ghp_", "16C7e42F292c6912E7710c838347Ae178B4a"} <= covered(ws)


def test_words_that_merely_stand_above_or_below_a_key_stay() -> None:
    # A table: a cell ending in an ordinary word, the next row's cell starting with a key.
    ws = row(10, (10, "8"), (40, "Especially daughter"), (600, "04/11/2025"))
    ws += row(32, (10, "9"), (40, "sk-proj-3ZFPewNc1CGgOleHdiuJ82zrydPPxfOwiW"), (600, "23.02.2023"))
    ws += row(54, (40, "Appear probably"))
    got = covered(ws)
    assert "sk-proj-3ZFPewNc1CGgOleHdiuJ82zrydPPxfOwiW" in got
    assert {"Especially", "daughter", "Appear", "probably", "04/11/2025", "23.02.2023"}.isdisjoint(got)


def test_a_column_under_a_password_header_is_masked_whatever_its_values_look_like() -> None:
    ws = row(10, (10, "Service"), (200, "Account"), (400, "Password"))
    ws += row(34, (10, "billing-prod"), (200, "svc_billing"), (400, "correct horse battery"))
    ws += row(58, (10, "search-dev"), (200, "jdoe"), (400, "Winter2024!"))
    ws += row(120, (10, "Rotate these after the audit finishes"))
    got = covered(ws)
    assert {"correct", "horse", "battery", "Winter2024!"} <= got
    assert {"Service", "Account", "Password", "billing-prod", "svc_billing", "search-dev", "jdoe",
            "Rotate", "audit"}.isdisjoint(got)


def test_a_centred_header_names_a_left_aligned_column() -> None:
    ws = row(10, (10, "System"), (190, "Login"), (330, "PIN"))
    ws += row(34, (10, "door-east"), (170, "guard"), (300, "4821"))
    assert covered(ws) == {"4821"}


def test_a_row_of_values_is_not_a_header() -> None:
    # "bad password" is a value in this row (it holds an address), not a header over the next.
    ws = row(10, (10, "jane@example.com"), (260, "10.0.3.17"), (400, "bad password"))
    ws += row(34, (10, "mallory"), (260, "10.0.3.18"), (400, "locked"))
    got = covered(ws)
    assert "locked" not in got and "mallory" not in got


def test_a_form_label_names_the_value_under_it_only() -> None:
    ws = row(10, (10, "SMTP password")) + row(34, (10, "Tr0ub4dor&3x")) + row(70, (10, "Webhook URL"))
    ws += row(94, (10, "https://hooks.example.com/in"))
    got = covered(ws)
    assert "Tr0ub4dor&3x" in got
    assert {"Webhook", "URL", "https://hooks.example.com/in", "SMTP", "password"}.isdisjoint(got)


def test_a_lone_password_in_a_column_of_keys_is_masked() -> None:
    ws = row(10, (10, "Friend start"), (150, "AKIA25ECNYUFVBZVNKMY"))
    ws += row(40, (10, "Provide main"), (150, "rKA9Q~Fo~JT2TfjkBnGKaVCQHcgbyhBlivnxXt1L"))
    ws += row(70, (10, "Cold live"), (150, "glpat-Wnc4HcuUgPl4W5235R5K"))
    ws += row(100, (10, "Most year"), (150, "shadow7417"))
    ws += row(130, (10, "Old key"), (150, "c93c5f21-ead1-6208-a029-6d3f46bbcd83"))
    got = covered(ws)
    assert "shadow7417" in got
    assert "c93c5f21-ead1-6208-a029-6d3f46bbcd83" not in got  # a UUID in that column is not a password
    assert {"Friend", "start", "Provide", "main", "Most", "year"}.isdisjoint(got)


def test_a_password_like_word_in_an_ordinary_column_stays() -> None:
    ws = row(10, (10, "Host"), (150, "build-02"))
    ws += row(40, (10, "Key"), (150, "AKIA25ECNYUFVBZVNKMY"))
    ws += row(70, (10, "Image"), (150, "python3.12"))
    ws += row(100, (10, "Node"), (150, "worker7"))
    assert covered(ws) == {"AKIA25ECNYUFVBZVNKMY"}


def test_dates_times_versions_and_addresses_are_not_pieces_of_a_key() -> None:
    for value in ("07/06/2025", "2024-03-09", "23.02.2023", "14:05", "10.0.12.254", "v1.22.3", "$1,234.50"):
        assert not shapes.random_looking(value)
    assert shapes.random_looking("XA4uyDsfWRKj6")
    ws = row(10, (10, "sk-proj-3ZFPewNc1CGgOleHdiuJ82zrydPPxfOwiW"), (400, "07/06/2025"))
    assert "07/06/2025" not in covered(ws)


def test_cells_are_cut_at_wide_gaps_only() -> None:
    line = row(10, (10, "quarterly roadmap"), (400, "notes"))
    assert cells.cells(line) == [[0, 1], [2]]
