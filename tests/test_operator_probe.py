"""``openpersonalize serve`` / ``demo`` as an operator meets them: a bad option value, a damaged credentials file or
half-set credential variables end with one line naming the problem and a non-zero exit, never a traceback, a
server on another port than asked, or a node accepting other keys than its peers."""

from __future__ import annotations

import json
import signal
import socket

import pytest
from typer.testing import CliRunner

from openpersonalize import cli, node
from openpersonalize.store.objects import ObjectStore

runner = CliRunner()


@pytest.fixture
def no_start(monkeypatch):
    """Nothing may start: a refused command must stop before the node and the port."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the server started despite a bad option")

    monkeypatch.setattr(cli, "start_node", refuse)
    monkeypatch.setattr(cli.uvicorn, "run", refuse)


class _StoppedNode:
    def leave(self) -> None:
        """Nothing to leave: start_node was stubbed."""


@pytest.fixture
def starts(monkeypatch) -> dict:
    """serve runs through to uvicorn.run, which returns at once; the dict gets uvicorn.run's keyword arguments.
    The variables serve exports for its workers are restored afterwards."""
    seen: dict = {}
    monkeypatch.setattr(cli, "start_node", lambda *a, **k: _StoppedNode())
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **k: seen.update(k))
    monkeypatch.setattr(cli, "export_for_workers", lambda url: None)
    monkeypatch.setenv(cli.CONFIG_ENV, "")  # recorded, so serve's own setting is undone
    return seen


def _invoke(*args: str, **env: str):
    return runner.invoke(cli.app, list(args), env=env or None)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["serve", "--port", "99999"], "--port"),  # was accepted and bound port 34463 (99999 & 0xFFFF)
        (["serve", "--port", "-1"], "--port"),
        (["serve", "--log-level", "bogus"], "--log-level"),  # was a ValueError traceback
        (["serve", "--log-level", "trace"], "--log-level"),  # uvicorn's level, unknown to logging: traceback
        (["serve", "--workers", "0"], "--workers"),
        (["serve", "--read-timeout", "-1"], "--read-timeout"),  # every request would lose its connection
        (["serve", "--score-cache-mb", "-5"], "--score-cache-mb"),
        (["demo", "--port", "70000"], "--port"),
        (["serve", "--host", ""], "--host"),  # '--host "$HOST"' with HOST unset bound every interface, v4 and v6
        (["serve", "--host", "  "], "--host"),
        (["serve", "--account-id", "a:b/c"], "--account-id"),  # ARNs were arn:aws:personalize:us-east-1:a:b/c:...
        (["serve", "--account-id", ""], "--account-id"),
        (["serve", "--account-id", "12345"], "--account-id"),
    ],
)
def test_a_bad_option_value_is_refused_before_anything_starts(tmp_path, no_start, args, names):
    result = _invoke(*args, "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 2, result.output
    assert names in result.output and "Traceback" not in result.output


def test_log_level_takes_any_case(tmp_path, starts):
    """``--log-level DEBUG`` reaches uvicorn in its spelling."""
    result = _invoke("serve", "--log-level", "DEBUG", "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    assert starts["log_level"] == "debug"


def test_allow_path_naming_a_file_is_refused(tmp_path, no_start):
    """``--allow-path`` names directories; a file there is a mistake said in one line."""
    afile = tmp_path / "ratings.csv"
    afile.write_text("USER_ID,ITEM_ID,TIMESTAMP\n")
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), "--allow-path", str(afile))
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [f"openpersonalize serve: --allow-path {afile} is not a directory"]


@pytest.mark.parametrize(
    "content",
    [
        '{"aws_access_key_id": "OPKEY", "aws_secret_access_key": "s3cr3t-value',  # cut short
        '{"aws_access_key_id": "OPKEY"}',  # no secret
        '["OPKEY", "s3cr3t-value"]',
    ],
)
def test_a_damaged_credentials_file_is_one_line_without_its_content(tmp_path, no_start, content):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "credentials.json"
    path.write_text(content)
    path.chmod(0o600)
    result = _invoke("serve", "--data-dir", str(data))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"openpersonalize serve: {path} is not a JSON object with aws_access_key_id and aws_secret_access_key; "
        "repair it, or remove it to have a new pair generated"
    ]
    assert "s3cr3t" not in result.output and "OPKEY" not in result.output


@pytest.mark.parametrize(
    "env",
    [
        {"OPENPERSONALIZE_ACCESS_KEY_ID": "AKIDSET"},
        {"OPENPERSONALIZE_SECRET_ACCESS_KEY": "only-the-secret"},
    ],
)
def test_half_set_credential_variables_are_refused(tmp_path, no_start, env):
    """One of the pair set (the other forgotten on one node) silently generated another key pair: that node
    refused every client signing with the deployment's keys. Refused in one line naming both variables."""
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), **env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "openpersonalize serve: set both OPENPERSONALIZE_ACCESS_KEY_ID and OPENPERSONALIZE_SECRET_ACCESS_KEY, "
        "or neither (a key pair is then generated into the data dir)"
    ]
    assert "only-the-secret" not in result.output
    assert not (tmp_path / "data" / "credentials.json").exists()


def test_generated_credentials_are_private_and_shown_only_by_path(tmp_path, starts):
    """First start: credentials.json is mode 0600 and the output names its path, never the secret."""
    data = tmp_path / "data"
    result = _invoke("serve", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    path = data / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    secret = json.loads(path.read_text())["aws_secret_access_key"]
    assert secret not in result.output and str(path) in result.output.splitlines()[0]


def test_help_never_shows_the_database_url_from_the_environment():
    result = _invoke("serve", "--help", OPENPERSONALIZE_DATABASE_URL="postgresql+psycopg://op:hunter2@db/op")
    assert result.exit_code == 0 and "hunter2" not in result.output


def test_demo_with_half_set_credential_variables_says_so(tmp_path):
    result = _invoke("demo", "--data-dir", str(tmp_path / "data"), OPENPERSONALIZE_ACCESS_KEY_ID="AKIDSET")
    assert result.exit_code == 1 and "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert "demo failed: set both OPENPERSONALIZE_ACCESS_KEY_ID and OPENPERSONALIZE_SECRET_ACCESS_KEY" in said


@pytest.mark.parametrize(
    "url", ["ftp://op:hunter2@host/objects", "gs://bucket/prefix", "S3://bucket/prefix", "minio://b"]
)
def test_an_object_store_url_of_another_scheme_is_refused(tmp_path, no_start, url):
    """Anything but s3:// or a directory (file:// or a path) was taken for a relative directory: ``gs://b/p``
    became ./gs:/b/p beside the current directory, a store no other node shares. Refused naming the scheme only."""
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), "--object-store", url)
    assert result.exit_code == 1
    scheme = url.split("://")[0]
    assert result.output.strip().splitlines() == [
        f"openpersonalize serve: --object-store takes s3://bucket/prefix or a directory, not a {scheme}:// URL"
    ]
    assert "hunter2" not in result.output


def test_demo_on_a_data_dir_that_is_a_file_says_so(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    result = _invoke("demo", "--fast", "--data-dir", str(taken))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"demo failed: cannot use the data dir {taken}: File exists" in " ".join(result.output.split())


def test_demo_on_a_port_in_use_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _invoke("demo", "--fast", "--data-dir", str(tmp_path / "data"), "--port", str(port))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert f"demo failed: the embedded server did not start on port {port}" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENPERSONALIZE_IMPORT_PART_BYTES", "64MiB"),  # every import then failed with int()'s ValueError
        ("OPENPERSONALIZE_IMPORT_PART_BYTES", "0"),  # every import then failed dividing by zero
        ("OPENPERSONALIZE_EXPORT_PART_ROWS", "1e6"),
        ("OPENPERSONALIZE_BLOCK_INTERACTIONS", "lots"),
    ],
)
def test_a_bad_size_variable_is_refused_at_start(tmp_path, no_start, name, value):
    """The size knobs are read when a job runs: a typo failed every import (or export, or training) much later,
    with a Python exception for a reason. Refused at start naming the variable."""
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), **{name: value})
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"openpersonalize serve: {name} must be a whole number of at least 1, not {value!r}"
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (
            ["--executor", "ray://op:hunter2@127.0.0.1:1"],
            {},
        ),  # was 'cannot reach the Ray cluster at ray://op:hunter2@...'
        (["--executor", "ray"], {"RAY_ADDRESS": "op:hunter2@127.0.0.1:1"}),
        (["--executor", "http://op:hunter2@127.0.0.1:1"], {}),  # was "unknown --executor 'http://op:hunter2@...'"
    ],
)
def test_credentials_in_the_ray_address_are_refused_unshown(tmp_path, no_start, args, env):
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), *args, **env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "openpersonalize serve: credentials do not belong in the --executor or RAY_ADDRESS address "
        "(Ray takes none there)"
    )
    assert "hunter2" not in result.output


def test_a_new_data_dir_is_private(tmp_path, no_start):
    """The data dir holds the users' data (SQLite database, snapshots, models): made 0700, as credentials.json is
    0600 (it was 0755 with a 0644 database any local account could read)."""
    data = tmp_path / "new" / "data"
    _invoke("serve", "--data-dir", str(data), OPENPERSONALIZE_ACCESS_KEY_ID="K", OPENPERSONALIZE_SECRET_ACCESS_KEY="S")
    assert data.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("shared", ["data dir", "local object store"])
def test_two_servers_with_their_own_databases_never_share_a_data_dir_or_local_store(tmp_path, shared):
    """The node registry lives in the database, so a second server given another --database-url did not see the
    first and ran on the same data dir (or --object-store directory): same ARNs, same artifact paths, and each
    start swept the other's downloads and scratch. Refused while the first runs; free again once it left."""
    data = [tmp_path / "a", tmp_path / ("a" if shared == "data dir" else "b")]
    store = tmp_path / "objects" if shared == "local object store" else None
    handler = signal.getsignal(signal.SIGTERM)

    def start(n: int) -> node.Node:
        objects = ObjectStore.for_node(str(store) if store else None, data[n])
        return node.start_node(f"sqlite:///{tmp_path / f'db{n}.sqlite'}", objects, data[n], f"127.0.0.1:{n}")

    first = start(0)
    try:
        with pytest.raises(node.StartupError, match="refusing to start: another openpersonalize server uses"):
            start(1)
    finally:
        first.leave()
        signal.signal(signal.SIGTERM, handler)
    start(1).leave()
    signal.signal(signal.SIGTERM, handler)


def test_a_credentials_file_others_can_read_is_named(tmp_path, no_start):
    """A credentials.json restored or copied with a looser mode than the 0600 it was made with: said at start
    (refused, as ssh refuses a readable private key), so the secret does not stay readable by every account."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "credentials.json"
    path.write_text(json.dumps({"aws_access_key_id": "OPKEY", "aws_secret_access_key": "s3cr3t-value"}))
    path.chmod(0o644)
    result = _invoke("serve", "--data-dir", str(data))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"openpersonalize serve: {path} is open to other accounts (mode 0644); chmod 600 it"
    ]


@pytest.mark.parametrize("from_env", [False, True])
def test_demo_keep_says_where_the_secret_is(tmp_path, monkeypatch, from_env):
    """``demo --keep`` pointed at DATA_DIR/credentials.json even when the pair came from the environment (no such
    file then); it never prints the secret itself."""
    from openpersonalize.demo import connect_hint
    from openpersonalize.embedded import EmbeddedServer

    data = tmp_path / "data"
    data.mkdir()
    if from_env:
        monkeypatch.setenv("OPENPERSONALIZE_ACCESS_KEY_ID", "AKIDENV")
        monkeypatch.setenv("OPENPERSONALIZE_SECRET_ACCESS_KEY", "env-s3cr3t")
    else:
        (data / "credentials.json").write_text("{}")
    server = EmbeddedServer("http://127.0.0.1:1", "AKIDENV", "env-s3cr3t", None, None)
    hint = connect_hint(server, data)
    where = "$OPENPERSONALIZE_SECRET_ACCESS_KEY" if from_env else str(data / "credentials.json")
    assert f"aws_secret_access_key=<see {where}>" in hint and "env-s3cr3t" not in hint


def test_a_database_password_on_the_command_line_is_warned_about(tmp_path, no_start):
    """Every account on the machine reads a process's arguments (ps): a password in --database-url is said to
    belong in OPENPERSONALIZE_DATABASE_URL (the README's own example puts one there), without repeating it."""
    url = "postgresql+psycopg://op:hunter2@127.0.0.1:1/op"
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), "--database-url", url)
    said = " ".join(result.output.split())
    assert (
        "warning: the password in --database-url is visible to every account on this "
        "machine (ps); give the URL in OPENPERSONALIZE_DATABASE_URL instead" in said
    )
    assert "hunter2" not in result.output
    quiet = _invoke("serve", "--data-dir", str(tmp_path / "data"), OPENPERSONALIZE_DATABASE_URL=url)
    assert "warning" not in quiet.output and "hunter2" not in quiet.output


@pytest.mark.parametrize("name", ["file", "s3"])
def test_a_directory_named_like_a_scheme_is_a_directory(tmp_path, monkeypatch, starts, name):
    """``--object-store file`` is the directory ./file, not a URL naming no host."""
    monkeypatch.chdir(tmp_path)
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), "--object-store", name)
    assert result.exit_code == 0, result.output


def test_a_file_url_naming_a_host_is_refused(tmp_path, no_start):
    """``file://relative/x`` put the object store at /x (the URL's host dropped): refused, asking for file:///ABS."""
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), "--object-store", "file://relative/x")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "openpersonalize serve: --object-store file://relative/x names a host; a local directory is file:///ABS/PATH "
        "or a plain path"
    ]


def test_credentials_in_the_s3_endpoint_are_refused_with_a_local_store_too(tmp_path, no_start):
    """Refused for an s3:// store already; with a local store the endpoint still serves s3:// imports and exports
    (botocore's debug log shows every request URL), so it is refused whatever the store."""
    env = {"OPENPERSONALIZE_S3_ENDPOINT_URL": "http://op:hunter2@127.0.0.1:1"}
    result = _invoke("serve", "--data-dir", str(tmp_path / "data"), **env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "openpersonalize serve: credentials do not belong in OPENPERSONALIZE_S3_ENDPOINT_URL; give them in "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the standard AWS credential chain)"
    ]


def test_a_tilde_after_the_equals_sign_is_the_home_directory(tmp_path, monkeypatch, no_start):
    """The shell leaves ``--data-dir=~/op`` as written (no tilde expansion after '='): it made a directory named
    '~' in the current one. The CLI expands it, for --data-dir and --allow-path alike."""
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    (home / "work" / "ratings.csv").write_text("USER_ID,ITEM_ID,TIMESTAMP\n")
    monkeypatch.setenv("HOME", str(home))
    _invoke("serve", "--data-dir=~/op")
    assert (home / "op" / "credentials.json").exists() and not (tmp_path / "~").exists()
    result = _invoke("serve", "--data-dir=~/op", "--allow-path=~/work/ratings.csv")
    assert "--allow-path" in result.output and "is not a directory" in result.output
