"""The layout's import rules (docs/development.md, "Layout"), read from the code's own import statements,
function-level imports included: a forbidden arrow fails here, whatever imports at run time."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# curator's parts, by tier: a module may import its own part, any lower tier, and the other parts of its own
# tier as long as no two parts import each other (a stage never imports another stage: tested apart).
TIERS = {
    "__main__": 7,
    "cli": 6,
    "pipeline": 5,  # the orchestrator: plans and runs the stages
    "stages": 4,
    "report": 3,  # reads a run's outputs; knows no stage
    "profile": 3,
    "inject": 3,
    "denoise": 3,
    "fraud": 3,
    "evaluation": 3,
    "training": 3,
    "llm": 2,
    "run": 2,
    "data": 2,
    "errors": 1,
    "seeds": 1,
    "devices": 1,
    "__init__": 1,
    "prompts": 1,
    "adapters": 1,
}
PURE_METRICS = "evaluation"  # measures; reads no dataset folder and knows no stage or detector


def part_of(module: str) -> str | None:
    """The part of curator a dotted module name belongs to ('curator.denoise.model' -> 'denoise'; a name
    defined in curator/__init__.py, such as 'curator.__version__', -> '__init__')."""
    names = module.split(".")
    if names[0] != "curator":
        return None
    is_module = len(names) > 1 and any((ROOT / "curator" / name).exists() for name in (names[1], f"{names[1]}.py"))
    return names[1] if is_module else "__init__"


def source_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(file: Path) -> str:
    parts = file.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(file: Path) -> set[str]:
    """Every module `file` imports, at any depth of its code (relative imports resolved)."""
    package = module_name(file).split(".")
    if file.name != "__init__.py":
        package = package[:-1]
    return imported_modules(file.read_text(encoding="utf-8"), package)


def imported_modules(code: str, package: list[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from curator import x` names a module
    return found


def arrows() -> set[tuple[str, str, str]]:
    """(importing file, its part, imported part) for every import of one curator part by another."""
    found = set()
    for file in source_files("curator"):
        source = part_of(module_name(file))
        for target in filter(None, map(part_of, imports(file))):
            if target != source:
                found.add((str(file.relative_to(ROOT)), source, target))
    return found


def test_recsys_stands_alone():
    offending = [
        (str(file.relative_to(ROOT)), module)
        for file in source_files("recsys")
        for module in imports(file)
        if part_of(module) is not None
    ]
    assert offending == []


def test_every_part_of_curator_has_a_tier():
    parts = {part_of(module_name(file)) for file in source_files("curator")}
    assert parts <= set(TIERS), f"parts without a tier: {sorted(parts - set(TIERS))}"


def runs_up(source: str, target: str) -> bool:
    return TIERS[target] > TIERS[source]


def test_no_arrow_runs_up():
    offending = [
        f"{file} ({source}, tier {TIERS[source]}) imports {target} (tier {TIERS[target]})"
        for file, source, target in arrows()
        if runs_up(source, target)
    ]
    assert offending == []


def test_no_two_parts_import_each_other():
    pairs = {(source, target) for _, source, target in arrows()}
    assert sorted((a, b) for a, b in pairs if (b, a) in pairs and a < b) == []


def test_evaluation_is_pure_metrics():
    offending = [(file, target) for file, source, target in arrows() if source == PURE_METRICS and TIERS[target] > 1]
    assert offending == []


@pytest.mark.parametrize("file", source_files("curator/stages"), ids=lambda file: file.name)
def test_a_stage_never_imports_another_stage(file):
    own = module_name(file)
    assert sorted(m for m in imports(file) if m.startswith("curator.stages") and m != own) == []


def test_the_checker_sees_forbidden_arrows():
    """A library module importing the command layer inside a function, or a stage by a relative import, is seen."""
    code = "def f():\n    from curator.cli import app\n    from ..stages import denoise\n"
    found = {part_of(module) for module in imported_modules(code, ["curator", "denoise"])}
    assert found == {"cli", "stages"}
    assert all(runs_up("denoise", target) for target in found)
    assert not runs_up("denoise", "fraud") and runs_up("data", "denoise")
