"""The `matching` CLI: built-in production commands, dev commands through the entry point."""

from __future__ import annotations

import argparse
import ast
import json
import shlex
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import yaml

from matching.cli import main as cli
from matching.devtools import commands as dev

CLI_DIR = Path(cli.__file__).parent
BUILT_IN = {"migrate", "build-index", "expire-matches", "jobs", "models", "k8s", "pairing"}
DEV = {"up", "seed", "simulate", "token"}


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _plugin(value: str) -> EntryPoint:
    return EntryPoint(name="test", value=value, group=cli.PLUGIN_GROUP)


def test_dev_commands_come_only_through_the_installed_entry_point() -> None:
    found = cli.plugins()
    assert [(ep.name, ep.value) for ep in found] == [
        ("devtools", "matching.devtools.commands:register")
    ]
    assert _commands(cli.parser()) == BUILT_IN | DEV
    assert _commands(cli.parser(found=())) == BUILT_IN


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        ("up --users 2000", dev.cmd_up),
        ("seed --users 500", dev.cmd_seed),
        ("simulate --users 2000 --days 21", dev.cmd_simulate),
        ("simulate --users 10 --days 1 --seed 3 --target http://127.0.0.1:8000", dev.cmd_simulate),
        ("token --sub 9f1c2a44-8a8e-4d6f-a4e7-2c1b0f2b6f10 --scope admin", dev.cmd_token),
        ("jobs all", "cmd_jobs"),
        ("jobs features --set shards=2", "cmd_jobs"),
        ("models promote latest", "cmd_models"),
        ("models promote latest --kind index", "cmd_models"),
        ("models rollback", "cmd_models"),
        ("models promote latest --print-patch --rayservice prod", "cmd_models"),
        ("k8s render --check", "cmd_render"),
        ("--log-level WARNING migrate", "cmd_migrate"),
        ("expire-matches", "cmd_expire_matches"),
        ("build-index", "cmd_build_index"),
    ],
)
def test_readme_commands_parse_to_their_handlers(argv: str, handler: object) -> None:
    args = cli.parser().parse_args(argv.split())
    if isinstance(handler, str):
        assert args.fn.__name__ == handler
        assert args.fn.__module__.startswith("matching.cli.")
    else:
        assert args.fn is handler


def test_unknown_command_and_bad_choice_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(["jobs", "nope"])
    assert exc.value.code == 2
    assert "job" in capsys.readouterr().err


def test_broken_plugin_is_reported_and_the_built_ins_still_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    gone = _plugin(value="matching.devtools.no_such_module:register")
    parser = cli.parser(found=[gone])
    assert "plugin test (matching.devtools.no_such_module:register) not loaded" in (
        capsys.readouterr().err
    )
    assert _commands(parser) == BUILT_IN
    assert parser.parse_args(["migrate"]).fn.__name__ == "cmd_migrate"


def test_a_plugin_cannot_replace_a_built_in_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "clashing_plugin.py").write_text(
        textwrap.dedent(
            """
            def register(sub):
                sub.add_parser("migrate")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(argparse.ArgumentError, match="migrate"):
        cli.parser(found=[_plugin(value="clashing_plugin:register")])


def test_cli_modules_never_import_devtools_not_even_lazily() -> None:
    offenders = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("matching.devtools")]
    assert offenders == []


def test_the_production_cli_runs_without_devtools_loaded() -> None:
    code = (
        "import sys\n"
        "import matching.cli.main as m\n"
        "m.parser(found=()).parse_args(['models', 'list'])\n"
        "loaded = sorted(k for k in sys.modules if k.startswith('matching.devtools'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_promote_prints_the_cluster_patch_with_the_live_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    version = tmp_path / "models" / "20261201T000000-cafe"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text(json.dumps({"version": version.name, "metrics": {}}))
    monkeypatch.setenv("MATCHING_ARTIFACTS_DIR", str(tmp_path))
    root = Path(cli.__file__).parents[2]
    argv = ["models", "promote", version.name, "--force", "--print-patch"]
    assert cli.main([*argv, "--source", str(root / "serve_config.yaml")]) == 0
    out = capsys.readouterr()
    patch = json.loads(shlex.split(out.out)[-1])
    config = yaml.safe_load(patch["spec"]["serveConfigV2"])
    user_configs = [d.get("user_config") for d in config["applications"][0]["deployments"]]
    assert {"model_version": version.name, "index_version": None} in user_configs
    assert version.name in out.err  # the registry's answer, apart from the command

    assert cli.main([*argv, "--source", str(tmp_path / "nope.yaml")]) == 1
    assert "--source" in capsys.readouterr().err
