"""The YAML the portal reads from a form: plain data, shallow, without anchors or aliases."""

from __future__ import annotations

import pytest
import yaml

from sandboxmesh.controlplane.portal import sandbox_forms, untrusted_yaml

# Ten levels of nine references each: 9**9 strings once expanded, from 500 bytes.
LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def test_a_manifest_reads_as_the_safe_loader_reads_it() -> None:
    text = sandbox_forms.yaml_example("staging", "payments")
    assert untrusted_yaml.load(text) == yaml.safe_load(text)


def test_nesting_up_to_the_limit_is_read() -> None:
    depth = untrusted_yaml.MAX_DEPTH
    assert untrusted_yaml.load("[" * depth + "]" * depth) is not None


@pytest.mark.parametrize(
    "text",
    [
        "[" * (untrusted_yaml.MAX_DEPTH + 1) + "]" * (untrusted_yaml.MAX_DEPTH + 1),
        "a:\n" + "".join(" " * (level + 1) + f"k{level}:\n" for level in range(40)),
        "spec: " + "[" * 100_000,  # a RecursionError in PyYAML's composer (a 500 in the portal)
    ],
    ids=["flow", "block", "hundred-thousand"],
)
def test_deeper_nesting_is_refused(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        untrusted_yaml.load(text)


@pytest.mark.parametrize(
    "text", [LAUGHS, "a: &x 1\n", "a: *x\n", "base: &b {k: v}\nmerged: {<<: *b}\n"]
)
def test_anchors_and_aliases_are_refused(text: str) -> None:
    with pytest.raises(untrusted_yaml.RefusedYaml, match="anchors and aliases"):
        untrusted_yaml.load(text)


def test_refusals_read_as_sentences_with_their_line() -> None:
    assert sandbox_forms.parse_yaml("name: x\nspec: *s\n") == (
        None,
        "This YAML is refused (line 2): anchors and aliases (& and *) are not accepted.",
    )
    deep = "x: " + "[" * 20 + "]" * 20
    assert sandbox_forms.parse_yaml(deep) == (
        None,
        f"This YAML is refused (line 1): nested deeper than {untrusted_yaml.MAX_DEPTH} levels.",
    )


def test_python_tags_stay_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        untrusted_yaml.load("a: !!python/object/apply:os.system [true]\n")
