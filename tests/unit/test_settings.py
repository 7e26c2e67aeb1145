"""Settings: precedence flag > env > file > default, conversion, and errors naming setting and source."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from idnode.settings import ConfigError, Settings, load_settings, parse_listen, parse_size


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "idnode.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    settings = load_settings({}, env={})
    assert settings == Settings()
    assert settings.data_dir == Path("idnode-data")
    assert settings.grpc_listen == "127.0.0.1:50051"
    assert settings.http_listen == "127.0.0.1:8000"
    assert settings.dns_listen == "127.0.0.1:8053"
    assert (settings.dns_zone, settings.dns_nameserver, settings.dns_negative_ttl) == ("id.local.", "", 60)
    assert settings.public_url == ""
    assert settings.node_prefix == "88.118"
    assert settings.demo is False
    assert settings.workers == (os.cpu_count() or 1)
    assert settings.map_size == 1024**3
    assert settings.max_readers == 2048
    assert (settings.log_level, settings.log_format) == ("info", "text")
    assert settings.top is None
    assert settings.grace == 10.0
    assert settings.admin_credential_path == Path("idnode-data") / "admin.credential"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    config = _toml(
        tmp_path,
        'grpc_listen = "127.0.0.1:1001"\nhttp-listen = "127.0.0.1:2001"\ndns_listen = "127.0.0.1:3001"\nworkers = 3\n',
    )
    env = {"IDNODE_GRPC_LISTEN": "127.0.0.1:1002", "IDNODE_HTTP_LISTEN": "127.0.0.1:2002"}
    settings = load_settings({"grpc_listen": "127.0.0.1:1003", "http_listen": None}, env=env, config_path=config)
    assert settings.grpc_listen == "127.0.0.1:1003"  # flag
    assert settings.http_listen == "127.0.0.1:2002"  # env (the None flag is ignored)
    assert settings.dns_listen == "127.0.0.1:3001"  # file
    assert settings.workers == 3  # file
    assert settings.log_level == "info"  # default


def test_config_path_from_env(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'node_prefix = "88.200"\ndemo = true\n')
    settings = load_settings({}, env={"IDNODE_CONFIG": str(config)})
    assert settings.node_prefix == "88.200"
    assert settings.demo is True


def test_explicit_config_path_wins_over_env(tmp_path: Path) -> None:
    config = _toml(tmp_path, "workers = 5\n")
    settings = load_settings({}, env={"IDNODE_CONFIG": str(tmp_path / "missing.toml")}, config_path=config)
    assert settings.workers == 5


def test_empty_env_counts_as_unset() -> None:
    assert load_settings({}, env={"IDNODE_WORKERS": "", "IDNODE_TOP": ""}).workers == (os.cpu_count() or 1)


def test_env_values_converted() -> None:
    env = {
        "IDNODE_DATA_DIR": "/srv/idnode",
        "IDNODE_DEMO": "yes",
        "IDNODE_WORKERS": "8",
        "IDNODE_MAP_SIZE": "64MiB",
        "IDNODE_MAX_READERS": "126",
        "IDNODE_LOG_LEVEL": "DEBUG",
        "IDNODE_LOG_FORMAT": "json",
        "IDNODE_TOP": "top.example:50061",
        "IDNODE_GRACE": "2.5",
        "IDNODE_NODE_PREFIX": "88.118",
    }
    settings = load_settings({}, env=env)
    assert settings.data_dir == Path("/srv/idnode")
    assert settings.demo is True
    assert settings.workers == 8
    assert settings.map_size == 64 * 1024**2
    assert settings.max_readers == 126
    assert settings.log_level == "debug"
    assert settings.log_format == "json"
    assert settings.top == "top.example:50061"
    assert settings.grace == 2.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("0", False),
        ("true", True),
        ("False", False),
        ("yes", True),
        ("no", False),
        ("on", True),
        ("off", False),
    ],
)
def test_env_booleans(text: str, expected: bool) -> None:
    assert load_settings({}, env={"IDNODE_DEMO": text}).demo is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1 << 20),
        ("64MiB", 64 << 20),
        ("1GiB", 1 << 30),
        ("1gib", 1 << 30),
        ("512M", 512 << 20),
        ("2G", 2 << 30),
        ("1TiB", 1 << 40),
        ("100MB", 100_000_000),
        ("1.5GiB", 3 << 29),
        ("1024 KiB", 1 << 20),
    ],
)
def test_size_suffixes(text: str, expected: int) -> None:
    assert parse_size(text) == expected
    assert load_settings({"map_size": text}, env={}).map_size == expected


def test_map_size_from_toml_integer(tmp_path: Path) -> None:
    assert load_settings({}, env={}, config_path=_toml(tmp_path, "map_size = 2097152\n")).map_size == 2 << 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", 50051)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:50051", ("::1", 50051)),
        ("[::]:8053", ("::", 8053)),
        ("[fe80::1%eth0]:1", ("fe80::1%eth0", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "expected HOST:PORT"),
        ("127.0.0.1:65536", "out of range"),
        ("127.0.0.1:http", "not a number"),
        (":50051", "empty host"),
        ("::1:50051", "brackets"),
        ("[::1:50051", "missing ']'"),
        ("[::1]50051", "[IPV6]:PORT"),
        ("127.0.0.1:-1", "not a number"),
        ("[]:1", "IPv6"),
    ],
)
def test_parse_listen_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=_re(reason)):
        parse_listen(text)


def test_ipv6_listen_kept_canonical() -> None:
    settings = load_settings({"grpc_listen": "[::1]:0"}, env={})
    assert settings.grpc_listen == "[::1]:0"
    assert settings.grpc_address == ("::1", 0)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("grpc_listen", "nowhere", "expected HOST:PORT"),
        ("http_listen", "127.0.0.1:99999", "out of range"),
        ("dns_listen", "::1:53", "brackets"),
        ("node_prefix", "88..118", "empty prefix segment"),
        ("node_prefix", "88.118/x", "no '/'"),
        ("demo", "maybe", "1/0/true/false/yes/no"),
        ("workers", "0", "at least 1"),
        ("workers", "many", "integer"),
        ("map_size", "1KiB", "at least 1MiB"),
        ("map_size", "12 parsecs", "not a size"),
        ("max_readers", "0", "at least 1"),
        ("log_level", "verbose", "debug, info, warning, error"),
        ("log_format", "xml", "text, json"),
        ("top", "top.example:0", "port 0"),
        ("grace", "-1", "non-negative"),
        ("data_dir", " ", "empty path"),
        ("dns_listen", "on", "expected HOST:PORT"),
        ("dns_zone", "id..local", "empty label"),
        ("dns_zone", "ids.ex ample.cn", "a-z, 0-9"),
        ("dns_nameserver", "ns..x", "empty label"),
        ("dns_negative_ttl", "-5", "at least 0"),
        ("public_url", "ftp://x", "http:// or https://"),
    ],
)
def test_errors_name_setting_and_source(name: str, value: str, reason: str, tmp_path: Path) -> None:
    var = "IDNODE_" + name.upper()
    with pytest.raises(ConfigError, match=f"^settings: {name} from {var}: .*{_re(reason)}"):
        load_settings({}, env={var: value})
    flag = "--" + name.replace("_", "-")
    with pytest.raises(ConfigError, match=f"^settings: {name} from {flag}: .*{_re(reason)}"):
        load_settings({name: value}, env={})
    config = _toml(tmp_path, f"{name} = {value!r}\n".replace("'", '"'))
    with pytest.raises(ConfigError, match=f"^settings: {name} from {_re(str(config))}: .*{_re(reason)}"):
        load_settings({}, env={}, config_path=config)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_toml_type_errors_name_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, "workers = true\n")
    with pytest.raises(ConfigError, match="settings: workers from .*idnode.toml: expected an integer"):
        load_settings({}, env={}, config_path=config)


def test_unknown_toml_key_named(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'grpc_listen = "127.0.0.1:1"\ngrpc_port = 1\n')
    with pytest.raises(ConfigError, match="unknown key 'grpc_port'"):
        load_settings({}, env={}, config_path=config)


def test_toml_tables_are_unknown_keys(tmp_path: Path) -> None:
    config = _toml(tmp_path, "[server]\nworkers = 2\n")
    with pytest.raises(ConfigError, match="unknown key 'server'"):
        load_settings({}, env={}, config_path=config)


def test_missing_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file .*nope.toml: not found"):
        load_settings({}, env={}, config_path=tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, env={}, config_path=_toml(tmp_path, "workers = = 2\n"))


def test_unknown_override() -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings({"colour": "blue"}, env={})


def test_other_idnode_env_vars_ignored() -> None:
    env = {"IDNODE_NODE": "x", "IDNODE_TOKEN": "y", "IDNODE_NO_EXTENSIONS": "1"}
    assert load_settings({}, env=env) == Settings()


def test_dns_settings_normalised() -> None:
    settings = load_settings(
        {"dns_listen": "OFF", "dns_zone": "IDS.Example.CN", "dns_nameserver": "NS1.ids.example.cn"}, env={}
    )
    assert (settings.dns_listen, settings.dns_zone, settings.dns_nameserver) == (
        "off",
        "ids.example.cn.",
        "ns1.ids.example.cn.",
    )


def test_node_prefix_normalised() -> None:
    assert load_settings({"node_prefix": "88.ABC"}, env={}).node_prefix == "88.abc"


def test_settings_frozen_and_validated_when_built(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, grpc_listen="127.0.0.1:0", map_size="8MiB")  # type: ignore[arg-type]
    assert settings.map_size == 8 << 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 2  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"settings: workers from Settings\(\): must be at least 1"):
        Settings(workers=0)
    assert dataclasses.replace(settings, workers=4).workers == 4
