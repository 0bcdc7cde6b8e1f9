"""The code's structure: pages keep their state only through declared parameters."""

import ast
from pathlib import Path

import pytest

VIEWS = sorted((Path(__file__).resolve().parent.parent / "explorer" / "views").glob("*.py"))
# Widgets whose key only names the element (they hold no value a page reads back).
STATELESS = {"button", "download_button"}


def literal_keys(tree: ast.AST) -> list[str]:
    """Where a page spells a session key: st.session_state, or key="..." on a widget with a value."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "session_state":
            found.append(f"line {node.lineno}: st.session_state")
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for keyword in node.keywords:
                spelled = isinstance(keyword.value, ast.Constant | ast.JoinedStr)
                if keyword.arg == "key" and spelled and name not in STATELESS:
                    found.append(f"line {node.lineno}: {name}(key={ast.unparse(keyword.value)})")
    return sorted(found, key=lambda where: int(where.split(":")[0].removeprefix("line ")))


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_pages_use_declared_parameters_not_literal_session_keys(path):
    assert literal_keys(ast.parse(path.read_text())) == []


def test_the_check_finds_literal_keys():
    source = 'st.session_state["x"] = 1\nst.radio("a", [1], key="r")\nst.slider("s", key=f"s-{i}")\n' \
             'st.button("b", key="b")\nst.radio("a", [1], key=P.key)\n'
    assert literal_keys(ast.parse(source)) == [
        "line 1: st.session_state", "line 2: radio(key='r')", "line 3: slider(key=f's-{i}')"]


def test_import_layers_hold():
    """The contracts in pyproject.toml ([tool.importlinter]): pages > Streamlit glue > pure modules
    > train, and no streamlit below the glue."""
    import shutil
    import subprocess

    command = shutil.which("lint-imports")
    assert command, "import-linter is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([command, "--no-cache"], cwd=VIEWS[0].parents[2], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
