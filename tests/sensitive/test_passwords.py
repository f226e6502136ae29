"""Passwords: after keys in prose, config and code, on command lines, in URLs, and typed after a
command that prompts for one."""

from __future__ import annotations

import pytest

from tests.sensitive._helpers import found

PW = "Tr0ub4dor&3"


@pytest.mark.parametrize(
    "text",
    [
        f"password: {PW}",
        f"Password = {PW}",
        f"DB_PASSWORD={PW}",
        f"PGPASSWORD={PW} psql -h db",
        f'"password": "{PW}"',
        f"  password: '{PW}'",
        f"spring.datasource.password={PW}",
        f"<password>{PW}</password>",
        f"Server=db;Database=app;User Id=sa;Password={PW};Encrypt=True",
        f"pwd={PW}&user=bob",
        f"the wifi password is {PW}",
        f"my password is: {PW}",
        f"creds: user app, password {PW} (rotate)",
        f"pass: {PW}",
        f"--password {PW}",
        f"--db-password={PW}",
        f"mysql -u root -p{PW} app",
        f"mysql -u root -p'{PW}' app",
        f"sshpass -p '{PW}' ssh deploy@10.0.0.7",
        f"redis-cli -h cache -p 6379 -a {PW} ping",
        f"docker login -u bob -p {PW} ghcr.io",
        f"curl -u alice:{PW} https://ci.example.com/api",
        f"echo '{PW}' | sudo -S systemctl restart nginx",
        f"postgres://app:{PW}@db.internal:5432/app",
        f"CREATE USER bob IDENTIFIED BY '{PW}';",
        f"ALTER ROLE app WITH PASSWORD '{PW}';",
        f"openssl enc -aes-256-cbc -pass pass:{PW} -in a -out b",
        f"contraseña: {PW}",
        f"Kennwort: {PW}",
    ],
)
def test_keyed_password_is_found_with_exact_span(text: str) -> None:
    assert ("password", PW) in found(text)


def test_non_latin_password_keys_deep_in_a_long_text() -> None:
    # Their keywords are searched in lowered copies of the lines holding a hint: offsets must
    # still point into the whole text, on any line, with non-ASCII text (İ folds) before it.
    lines = [f"Привет, İstanbul {i}: всё хорошо" for i in range(200)]
    lines[57] = f"ПАРОЛЬ: {PW}"
    lines[140] = f"Contraseña: {PW}x"
    lines.append(f"пароль={PW}y")
    assert [v for k, v in found("\n".join(lines)) if k == "password"] == [PW, PW + "x", PW + "y"]


def test_url_password_may_contain_at_sign() -> None:
    assert found("mysql://root:p@ss@w0rd@db.example.com/shop") == [("password", "p@ss@w0rd")]


@pytest.mark.parametrize(
    "text",
    [
        "Forgot your password? Reset it from the login page.",
        "password: required",
        "Password: ********",
        "the password is stored in the vault",
        "password reset link sent; password field is empty; password manager",
        "password = getpass.getpass()",
        "password = os.environ['DB_PASSWORD']",
        "connect(user=user, password=password)",
        "password: ${{ secrets.DB_PASSWORD }}",
        "DB_PASSWORD=${DB_PASSWORD}",
        "PASSWORD_MIN_LENGTH = 12",
        "password_hash = bcrypt.hashpw(password.encode(), salt)",
        "docker login --password-stdin < token.txt",
        "[sudo] password for alice:",
        "PWD=/home/alice/src",
        "sudo passwd alice2",
        "pass show email/work2",
        "postgres://app:password@localhost/app",
        "if password and len(password) < 8: raise ValueError",
    ],
)
def test_password_mentions_are_not_flagged(text: str) -> None:
    assert [kind for kind, _ in found(text) if kind == "password"] == []


# The password-after-prompt rule: keystroke text has no key in front of the password.
@pytest.mark.parametrize(
    ("text", "passwords"),
    [
        ("sudo apt update\nhunter2\n", ["hunter2"]),
        ("sudo -i\nwrongpass1\nhunter2\nwhoami\n", ["wrongpass1", "hunter2"]),
        ("su -\nS3cret!\nexit\n", ["S3cret!"]),
        ("ssh deploy@10.0.3.7\nhunter2\nuptime\n", ["hunter2"]),
        ("scp a.tgz deploy@web-1:/srv/\nhunter2\n", ["hunter2"]),
        ("passwd\nOld-pass1\nNew-pass2\nNew-pass2\n", ["Old-pass1", "New-pass2", "New-pass2"]),
        ("mysql -u root -p\nhunter2\nshow databases;\n", ["hunter2"]),
        ("psql -h db -U app app\nhunter2\n\\dt\n", ["hunter2"]),
        ("kinit alice\nhunter2\nklist\n", ["hunter2"]),
        ("docker login registry.example.com\nalice\nhunter2\n", ["hunter2"]),
        ("docker login -u alice ghcr.io\nhunter2\n", ["hunter2"]),
        ("git push origin main\nalice\nhunter2\n", ["hunter2"]),
        ("git push origin main\nhunter2\nls\n", ["hunter2"]),
        (
            "gpg --symmetric backup.tar\ncorrect horse battery staple\ncorrect horse battery staple\n",
            ["correct horse battery staple", "correct horse battery staple"],
        ),
        ("alice@web01:~$ sudo systemctl restart nginx\nhunter2\n", ["hunter2"]),
        ("➜  api git:(main) ✗ sudo tcpdump -i eth0\nhunter2\n", ["hunter2"]),
        ("cd /srv && sudo make install\nhunter2\n", ["hunter2"]),
        ("sudo apt update\r\nhunter2\r\n", ["hunter2"]),
        ("sudo apt update\rhunter2\r", ["hunter2"]),
        ("ansible-playbook site.yml -K\nhunter2\n", ["hunter2"]),
    ],
)
def test_line_after_prompting_command_is_a_password(text: str, passwords: list[str]) -> None:
    assert [value for kind, value in found(text) if kind == "password"] == passwords


@pytest.mark.parametrize(
    "text",
    [
        "sudo apt update\nsudo apt upgrade -y\n",
        "sudo apt update\nls -la\n",
        "sudo -n true\nhunter2\n",
        "ssh prod-web-1\nuptime\n",
        "ssh -o BatchMode=yes host\nhunter2\n",
        "git push origin main\ngit status\n",
        "git push git@github.com:acme/api.git main\nhunter2\n",
        "docker login --password-stdin ghcr.io\nhunter2\n",
        "mysql -u root app\nhunter2\n",
        "PGPASSWORD=x psql -h db\nhunter2\n",
        "sudo apt update\n\nhunter2\n",
        "ls -la\nhunter2\n",
        "alice@web01:~$ sudo apt install nginx\n[sudo] password for alice:\nReading package lists... Done\n",
        "ssh-add ~/.ssh/id_ed25519\nEnter passphrase for /home/alice/.ssh/id_ed25519:\n",
        "sudo make install\n/usr/local/bin\n",
        "sudo visudo\ny\n",
        "echo sudo\nhunter\n",
    ],
)
def test_no_password_where_nothing_prompted(text: str) -> None:
    assert [value for kind, value in found(text) if kind == "password"] == []


def test_piped_sudo_password_is_the_echoed_one() -> None:
    assert found("echo 'hunter2' | sudo -S true\nls\n") == [("password", "hunter2")]
    assert found("sudo -S apt update\nhunter2\n") == [("password", "hunter2")]  # -S on a tty still asks


def test_prompted_password_offsets_are_exact() -> None:
    text = "cd /srv/app\nsudo systemctl restart api\n  hunter2  \njournalctl -u api\n"
    (finding,) = [f for f in found(text) if f[0] == "password"]
    assert finding == ("password", "hunter2")
