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


def test_a_number_the_ocr_split_at_its_separator_is_one_number() -> None:
    ws = row(10, (10, "often-throw"), (200, "045"), (200 + 3 * CW + 6, "-93-8970"), (500, "2024-03-08"))
    got = covered(ws)
    assert {"045", "-93-8970"} <= got
    assert {"often-throw", "2024-03-08"}.isdisjoint(got)


def test_a_box_never_bridges_two_panes() -> None:
    # A key ending the main column's line and a key starting the thread pane's, level with it.
    ws = row(10, (10, "ok see AKIA25ECNYUFVBZVNKMY"), (900, "glpat-Wnc4HcuUgPl4W5235R5K thanks"))
    found = detect.find(ws)
    assert len(found) == 2
    assert all(f.box.right < 600 or f.box.x > 800 for f in found)


def test_rows_of_two_panes_are_not_chained_into_one_line_by_a_tall_box() -> None:
    ws = row(10, (10, "# bank")) + row(33, (10, "# of"))
    ws += [Word("\u201cprivate", Box(300, 12, 80, H), 80), Word("key", Box(388, 9, 27, 24), 80),
           Word('id":', Box(423, 13, 36, H), 93), Word('"266190bf34a870d94595', Box(468, 12, 190, H), 88),
           Word('fa9e24243e760b3e4494",', Box(664, 12, 200, H), 89),
           Word("iT", Box(1400, 20, 18, 24), 28)]  # a tall scrap of the pane beside
    ws += row(34, (300, ":+1: 8 :eyes: 4"))
    lines = detect.group_lines(ws)
    assert not any("\u201cprivate" in texts and ":+1:" in texts for texts in ([w.text for w in line] for line in lines))
    got = covered(ws)
    assert {'"266190bf34a870d94595', 'fa9e24243e760b3e4494",'} <= got  # `private key id":` is the keyword
    assert {"bank", "of", ":eyes:"}.isdisjoint(got)


def test_short_fragments_between_pieces_of_a_key_go_with_it() -> None:
    texts = ["TFG6YONND_BzOzTJjFKL4U1", "i", "wBP", "35", "5qZCUSMFbECXVEh"]
    ws, x = [], 10
    for t in texts:
        ws.append(Word(t, Box(x, 10, CW * len(t), H), 80 if len(t) > 3 else 76))
        x += CW * len(t) + 3
    assert covered(ws) == set(texts)
    ws = row(10, (10, "use AKIA25ECNYUFVBZVNKMY to do it"))
    assert covered(ws) == {"AKIA25ECNYUFVBZVNKMY"}


def test_generated_resource_names_are_not_keys() -> None:
    for name in ("payments-7d4b9c8f6d-x2kqp", "release-2cd0240fa-cbb8n", "search\u2014416b0e804-ps8k9"):
        assert shapes.key_shaped(name) is None
    assert shapes.key_shaped("k3J9x0QmZ7vB2nW8pL5sR1tY") is not None


def test_a_header_must_top_its_table_and_not_be_a_value() -> None:
    # "bad password" is a value in a row with rows like it above: not a header.
    ws = row(10, (10, "margaret54"), (260, "192.69.48.161"), (400, "mfa timeout"))
    ws += row(34, (10, "laura96"), (260, "192.72.71.148"), (400, "bad password"))
    ws += row(58, (10, "dianalucero"), (260, "10.13.198.38"), (400, "locked"))
    assert "locked" not in covered(ws)
    # ``kind: Secret`` names a kind, not the line below.
    ws = row(10, (10, "kind: Secret")) + row(34, (10, "metadata:")) + row(58, (30, "name: always-creds"))
    assert covered(ws) == set()


def test_a_terminal_table_row_is_not_wrapped_into_the_prompt_below() -> None:
    ws = row(10, (4, "deploy-dffd03f1f-dlhdj"), (450, "1/1"), (550, "Running"), (680, "5d"))
    ws += row(30, (8, "[jonathan@k8s-admin ~]$ kubectl get secret always-creds -o yaml"))
    assert cells.wrap_pairs(detect.group_lines(ws)) == []


def test_a_header_beside_a_sidebar_table_still_names_its_column() -> None:
    # The details sidebar runs level with the credentials table: its rows line up with
    # the header row, but nothing stands above the header in its own column.
    ws = row(10, (1400, "Created"), (1550, "03.04.2023"))
    ws += row(34, (60, "System"), (210, "Login"), (330, "PIN"), (1400, "Fix versions"), (1550, "v18.27.89"))
    ws += row(60, (35, "attorney-stage"), (175, "samanthaneal"), (325, "3189"))
    ws += row(86, (35, "cover-prod"), (175, "michael94"), (325, "9331"))
    got = covered(ws)
    assert {"3189", "9331"} <= got
    assert {"attorney-stage", "samanthaneal", "michael94", "Fix", "versions", "Created"}.isdisjoint(got)
