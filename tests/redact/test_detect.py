"""Words with boxes to findings with boxes (the detector and shape rules; no OCR)."""

from __future__ import annotations

from jobshadow.redact import detect
from jobshadow.redact.model import Box, Word


def words(line: str, y: int = 10, conf: float = 95.0, gap: int = 8) -> list[Word]:
    out, x = [], 10
    for tok in line.split(" "):
        out.append(Word(tok, Box(x, y, 9 * len(tok), 14), conf))
        x += 9 * len(tok) + gap
    return out


def test_a_secret_maps_to_the_box_of_its_words() -> None:
    ws = words("deploy with AKIAZ4QXW7PLM3NRT2VB then mail jane.doe@example.com ok")
    found = detect.find(ws)
    kinds = {f.kind for f in found}
    assert {"aws_access_key", "email"} <= kinds
    key = next(f for f in found if f.kind == "aws_access_key")
    assert key.box == ws[2].box
    masked = {w.text for w in ws if any(f.box.overlap(w.box) for f in found)}
    assert {"deploy", "with", "then", "mail", "ok"}.isdisjoint(masked)


def test_keyword_on_one_line_and_key_on_the_next() -> None:
    ws = words("aws_access_key_id = AKIAZ4QXW7PLM3NRT2VB") + words(
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", y=30)
    found = detect.find(ws)
    assert any(f.box.overlap(ws[-1].box) for f in found)


def test_a_key_split_by_the_ocr_is_masked_whole() -> None:
    ws = words("token ghp_16C7e42F292c6912E7710c8383 47Ae178B4a", gap=1)
    found = detect.find(ws)
    assert all(any(f.box.overlap(w.box) for f in found) for w in ws[1:])


def test_an_unsure_fragment_next_to_a_key_goes_with_it() -> None:
    ws = words("OPENAI_API_KEY=sk-MT82Wgcj0z0qSQGBnkmsT3BIbkFJxR2tX WA XA4uyDsfWRKj6 thanks")
    found = detect.find(ws)
    covered = [w.text for w in ws if any(f.box.overlap(w.box) for f in found)]
    assert covered == ["OPENAI_API_KEY=sk-MT82Wgcj0z0qSQGBnkmsT3BIbkFJxR2tX", "WA", "XA4uyDsfWRKj6"]


def test_misread_card_and_email_are_still_found() -> None:
    ws = words("card 4111 l111 1111 1lll to jane,doe@exarnple,com")
    found = detect.find(ws)
    covered = {w.text for w in ws if any(f.box.overlap(w.box) for f in found)}
    assert {"4111", "l111", "1111", "1lll", "jane,doe@exarnple,com"} <= covered
    assert "card" not in covered and "to" not in covered


def test_lines_are_grouped_by_height_and_sorted_left_to_right() -> None:
    ws = words("beta gamma", y=40) + words("alpha", y=10)
    lines = detect.group_lines(list(reversed(ws)))
    assert [[w.text for w in line] for line in lines] == [["alpha"], ["beta", "gamma"]]
