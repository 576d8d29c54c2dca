"""prompts/ and adapters/ ship inside the package as curator.prompts and curator.adapters (setup.py)."""

from curator.llm.adapters import shipped_adapters
from curator.llm.templates import load_template


def test_prompts_and_adapters_ship_inside_the_package():
    assert load_template("item_profile").version.startswith("item_profile/")
    assert load_template("user_profile").version.startswith("user_profile/")
    assert (shipped_adapters() / "README.md").is_file()
