"""README's Python examples run as tests, and its first commands are the ones CI runs."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_examples_run():
    blocks = python_blocks()
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_opens_with_demo_and_test_commands():
    first_block = re.search(r"```\n(.*?)```", README.read_text(), flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_command_lines_parse_with_the_real_cli():
    """Every ``musicvae ...`` line README shows is accepted by the CLI's parser (options, choices, types)."""
    import shlex

    from musicvae.cli import build_parser

    lines = [line.split(" # ")[0].strip() for block in re.findall(r"```\n(.*?)```", README.read_text(), flags=re.S)
             for line in block.splitlines() if line.startswith("musicvae ")]
    assert len(lines) >= 10
    parser = build_parser()
    for line in lines:
        argv = shlex.split(line.replace("[", "").replace("]", ""))[1:]  # optional parts shown in [...] included
        args = parser.parse_args(argv)
        assert callable(args.func), line
