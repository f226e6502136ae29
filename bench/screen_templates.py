"""The screen templates of the screen-redaction benchmark, and the styles they are drawn in.

dev: terminal (xterm), chat, mail, ticket. heldout: editor (vim in xterm), code_review,
spreadsheet, console. Every template takes a ``Filler`` and returns terminal text or an HTML page.
"""

from __future__ import annotations

import random

from screen_corpus import Filler, Template

FONTS_SANS = ("DejaVu Sans", "Nimbus Sans", "URW Gothic", "DejaVu Serif", "Nimbus Roman", "C059", "P052")
FONTS_MONO = ("DejaVu Sans Mono", "Nimbus Mono PS")
THEMES = {
    "light": {"bg": "#ffffff", "fg": "#1d1c1d", "muted": "#616061", "panel": "#f4f5f7", "accent": "#1264a3",
              "add": "#e6ffec", "del": "#ffebe9", "border": "#d0d7de"},
    "dark": {"bg": "#1a1d21", "fg": "#d1d2d3", "muted": "#9a9b9c", "panel": "#19171d", "accent": "#4a9eda",
             "add": "#1b3a26", "del": "#4b1f22", "border": "#3c3f44"},
    "sepia": {"bg": "#fbf1e0", "fg": "#3b2f23", "muted": "#7a6a58", "panel": "#efe2c8", "accent": "#8a4b08",
              "add": "#e5f2d5", "del": "#f6d9d2", "border": "#d6c3a3"},
    "navy": {"bg": "#0d1b2a", "fg": "#e0e6ed", "muted": "#9fb3c8", "panel": "#1b263b", "accent": "#f4a261",
             "add": "#17402a", "del": "#5c1f24", "border": "#34495e"},
}
XTERM_THEMES = (("black", "white"), ("white", "black"), ("#002b36", "#93a1a1"), ("#fdf6e3", "#586e75"),
                ("#300a24", "#ffffff"))
XTERM_FONTS = (("fixed", 0), ("DejaVu Sans Mono", 9), ("DejaVu Sans Mono", 11), ("Nimbus Mono PS", 12),
               ("DejaVu Sans Mono", 14))


def styles(rng: random.Random, medium: str) -> dict[str, str]:
    if medium in ("xterm", "editor"):
        bg, fg = rng.choice(XTERM_THEMES)
        font, size = rng.choice(XTERM_FONTS)
        return {"bg": bg, "fg": fg, "font": font, "size": str(size)}
    scale = rng.choice(("1", "1", "1.25", "1.5", "2"))
    return {"theme": rng.choice(tuple(THEMES)), "font": rng.choice(FONTS_SANS), "mono": rng.choice(FONTS_MONO),
            "size": str(rng.choice((12, 13, 14, 15, 16, 18))), "scale": scale}


def page(body: str, css: str = "") -> str:
    return ("<!doctype html><html><head><meta charset=utf-8><style>"
            "body{margin:0;background:var(--bg);color:var(--fg);font-family:var(--font);font-size:var(--size)}"
            ".muted{color:var(--muted)} .mono,pre,code{font-family:var(--mono)} pre{white-space:pre-wrap;"
            "overflow-wrap:anywhere;margin:4px 0} .wrap{overflow-wrap:anywhere}" + css +
            "</style></head><body>" + body + "</body></html>")  # fmt: skip


# ---------------------------------------------------------------- dev templates


def terminal(f: Filler) -> str:
    host = f.rng.choice(("devbox", "ip-10-0-3-17", "mbp", "build-02"))
    prompt = f"{f.faker.user_name()}@{host}:~/{f.faker.word()}$ "
    out: list[str] = []
    for _ in range(f.rng.randint(4, 6)):
        step = f.rng.randrange(6)
        if step == 0:
            out += [prompt + "git log --oneline -n 3"] + [f"{f.looks('short_sha')} {f.words(5)}" for _ in range(3)]
        elif step == 1:
            out += [prompt + "cat .env", f"APP_ENV={f.faker.word()}", f.secret(), f.secret(),
                    f"LOG_LEVEL=info  # {f.words(4)}"]
        elif step == 2:
            out += [prompt + f"curl -s https://api.{f.faker.domain_name()}/v1/{f.faker.word()}", f.secret(),
                    f'{{"status": "ok", "message": "{f.words(5)}", "at": "{f.looks("date")}"}}']
        elif step == 3:
            out += [prompt + "psql -c 'select name, contact from customers limit 2'",
                    " name              | contact", "-------------------+-----------------------------",
                    f" {f.name():<17} | {f.secret('email', bare=True)}", f" {f.name():<17} | {f.secret()}"]
        elif step == 4:
            out += [prompt + "tail -n 3 /var/log/app.log"] + [
                f"{f.looks('date')} {f.looks('time')} INFO {f.words(6)} host={f.looks('ip')}" for _ in range(3)]
        else:
            out += [prompt + "echo $NOTES", f"{f.words(6)} {f.secret()} {f.words(3)}"]
    if f.rng.random() < 0.4:
        out += [prompt + "cat ~/.ssh/id_deploy", f.secret("private_key")]
    return "\n".join([*out, prompt])


def chat(f: Filler) -> str:
    side = "".join(f"<div class=ch># {f.faker.word()}-{f.faker.word()}</div>" for _ in range(8))
    msgs = []
    for _ in range(f.rng.randint(6, 8)):
        body = f.words(f.rng.randint(5, 12))
        if f.kinds and f.rng.random() < 0.85:
            body += " " + f.secret() + ("" if f.rng.random() < 0.5 else " " + f.words(3))
        if f.rng.random() < 0.25:
            body += f" (see {f.looks('ticket')} at {f.looks('time')})"
        msgs.append(f"<div class=msg><b>{f.name()}</b> <span class=muted>{f.looks('time')}</span>"
                    f"<div class=wrap>{body}</div></div>")
    while f.kinds:
        msgs.append(f"<div class=msg><b>{f.name()}</b><div class=wrap>{f.secret()}</div></div>")
    css = (".side{position:fixed;left:0;top:0;bottom:0;width:230px;background:var(--panel);padding:12px}"
           ".ch{padding:4px 0;color:var(--muted)} .main{margin-left:260px;padding:12px 24px}"
           ".msg{margin:0 0 14px 0;max-width:1100px}")
    return page(f"<div class=side><b>{f.faker.company()}</b>{side}</div><div class=main>{''.join(msgs)}</div>", css)


def mail(f: Filler) -> str:
    rows = "".join(f"<tr><td>{f.name()}</td><td>{f.words(4)}</td><td class=muted>{f.looks('date')}</td></tr>"
                   for _ in range(6))
    paras = []
    for _ in range(f.rng.randint(3, 4)):
        text = f.words(f.rng.randint(8, 16))
        if f.kinds:
            text += f" {f.secret()}. {f.words(4)}"
        paras.append(f"<p class=wrap>{text}</p>")
    sig = f"<p class=muted>{f.name()}<br>{f.faker.job()}<br>{f.secret('phone')}<br>{f.secret('email')}</p>"
    extra = "".join(f"<p class=wrap>{f.secret()}</p>" for _ in range(len(f.kinds)))
    css = ("table{border-collapse:collapse;width:100%} td{padding:6px 10px;border-bottom:1px solid var(--border)}"
           ".list{position:fixed;left:0;top:0;width:560px;bottom:0;overflow:hidden;background:var(--panel)}"
           ".read{margin-left:590px;padding:16px 28px;max-width:1100px}")
    return page(f"<div class=list><table>{rows}</table></div><div class=read><h2>{f.words(5)}</h2>"
                f"<p class=muted>From: {f.secret('email', bare=True)}</p>{''.join(paras)}{extra}{sig}</div>", css)


def ticket(f: Filler) -> str:
    fields = "".join(f"<tr><td class=muted>{k}</td><td>{v}</td></tr>" for k, v in (
        ("Status", "In Progress"), ("Assignee", f.name()), ("Reporter", f.secret("email", bare=True)),
        ("Fix version", f.looks("version")), ("Created", f.looks("date"))))
    comments = []
    for _ in range(f.rng.randint(3, 5)):
        body = f.words(f.rng.randint(8, 14))
        if f.kinds:
            body += f" {f.secret()}"
        comments.append(f"<div class=c><b>{f.name()}</b> <span class=muted>{f.looks('date')}</span>"
                        f"<p class=wrap>{body}</p></div>")
    rest = "".join(f"<div class=c><p class=wrap>{f.secret()}</p></div>" for _ in range(len(f.kinds)))
    css = (".top{padding:10px 24px;background:var(--panel);border-bottom:1px solid var(--border)}"
           ".body{display:flex;gap:32px;padding:16px 24px} .l{flex:3} .r{flex:1} td{padding:4px 8px}"
           ".c{border-top:1px solid var(--border);padding:8px 0}")
    return page(f"<div class=top>{f.looks('ticket')} / {f.words(3)}</div><div class=body><div class=l>"
                f"<h2>{f.words(6)}</h2><p class=wrap>{f.words(20)}</p>{''.join(comments)}{rest}</div>"
                f"<div class=r><table>{fields}</table></div></div>", css)


# ---------------------------------------------------------------- held-out templates


def editor(f: Filler) -> str:
    lines = [f"# {f.words(6)}", "[default]", f.secret("aws_access_key"), f.secret("aws_secret_key"), "",
             f"# {f.words(5)}", "database:", f"  host: {f.looks('hostname')}", f"  user: {f.faker.user_name()}"]
    lines += [f"  {f.secret()}" for _ in range(2)]
    lines += ["", f"# {f.words(7)}", f"release: {f.looks('version')}", f"commit: {f.looks('git_sha')}"]
    lines += [f.secret() for _ in range(len(f.kinds))]
    lines += [f"# {f.words(8)}", f"notes: {f.words(6)}"]
    return "\n".join(lines)


def code_review(f: Filler) -> str:
    rows = []
    n = 40
    for i in range(1, 18):
        kind = f.rng.choice(("ctx", "ctx", "add", "del"))
        if kind == "add" and f.kinds:
            text = f'    {f.faker.word()} = "{f.secret(bare=True)}"'
        else:
            text = f"    # {f.words(f.rng.randint(4, 8))}" if f.rng.random() < 0.5 else (
                f"    {f.faker.word()}_{f.faker.word()}({f.faker.word()}, timeout={f.rng.randint(1, 90)})")
        sign = {"ctx": " ", "add": "+", "del": "-"}[kind]
        rows.append(f"<tr class={kind}><td class=n>{n + i}</td><td class=mono><pre>{sign}{text}</pre></td></tr>")
    comment = f"<div class=cm><b>{f.name()}</b> <p class=wrap>{f.words(10)} {f.secret()}</p></div>"
    css = ("table{border-collapse:collapse;width:100%} .n{color:var(--muted);width:50px;text-align:right;"
           "padding-right:8px} .add{background:var(--add)} .del{background:var(--del)} pre{margin:0}"
           ".hdr{padding:10px 20px;border-bottom:1px solid var(--border)} .cm{margin:12px 20px;padding:10px;"
           "border:1px solid var(--border);border-radius:6px}")
    return page(f"<div class=hdr><b>{f.words(5)}</b> · {f.looks('short_sha')} · src/{f.faker.word()}.py</div>"
                f"<table>{''.join(rows)}</table>{comment}", css)


def spreadsheet(f: Filler) -> str:
    cols = ["Name", "Team", "Contact", "Detail", "Updated"]
    head = "<tr><th></th>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"
    body = []
    for r in range(1, 15):
        detail = f.secret(bare=True) if f.kinds and f.rng.random() < 0.7 else f.words(2)
        contact = f.secret("email", bare=True) if r % 5 == 0 else f.words(1)
        body.append(f"<tr><th>{r}</th><td>{f.name()}</td><td>{f.words(1)}</td><td>{contact}</td>"
                    f"<td class=wrap>{detail}</td><td>{f.looks('date')}</td></tr>")
    css = ("table{border-collapse:collapse;margin:8px} th,td{border:1px solid var(--border);padding:3px 6px;"
           "max-width:520px} th{background:var(--panel);color:var(--muted);font-weight:normal}")
    return page(f"<div style='padding:6px 10px;background:var(--panel)'>{f.words(3)}.xlsx</div>"
                f"<table>{head}{''.join(body)}</table>", css)


def console(f: Filler) -> str:
    rows = []
    for _ in range(7):
        rows.append(f"<tr><td>{f.words(2)}</td><td class=mono>{f.secret(bare=True) if f.kinds else f.looks('uuid')}"
                    f"</td><td>{f.looks('date')}</td><td class=muted>{f.words(2)}</td></tr>")
    css = ("table{border-collapse:collapse;width:96%;margin:12px 2%} td{padding:8px;border-bottom:1px solid "
           "var(--border)} .nav{background:var(--accent);color:#fff;padding:10px 20px}")
    return page(f"<div class=nav>{f.words(2)} console · project {f.faker.word()}-{f.looks('short_sha')}</div>"
                f"<h3 style='margin:16px 2%'>API keys and credentials</h3><p style='margin:0 2%'>{f.words(12)}</p>"
                f"<table>{''.join(rows)}</table>", css)


TEMPLATES: dict[str, tuple[str, str, Template]] = {
    "terminal": ("dev", "xterm", terminal),
    "chat": ("dev", "html", chat),
    "mail": ("dev", "html", mail),
    "ticket": ("dev", "html", ticket),
    "editor": ("heldout", "editor", editor),
    "code_review": ("heldout", "html", code_review),
    "spreadsheet": ("heldout", "html", spreadsheet),
    "console": ("heldout", "html", console),
}
