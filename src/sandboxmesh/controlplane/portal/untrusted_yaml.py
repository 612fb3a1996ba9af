"""YAML pasted by people we do not trust: plain data, shallow, without anchors or aliases.

PyYAML's safe loader builds only plain types, but it composes nested collections by
recursion (a few thousand `[` are a RecursionError) and follows aliases, so a few hundred
bytes of "billion laughs" become a document whose validation or serialisation never ends.
This loader refuses both while it composes, before any object is built: its cost is bounded
by the size of the text (the body limit), whatever the text holds. The events come from
libyaml (PyYAML's C parser), three times faster than PyYAML's own: 256 KiB of flow lists, the
most a form may post by default, took 0.9 s of CPU on the development machine (2.0 s with
PyYAML's parser), a manifest of a few forks well under a millisecond.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.cyaml import CParser  # type: ignore[attr-defined]  # the stubs do not re-export it
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import Node
from yaml.resolver import Resolver

#: Collections inside collections, the document's own included. A sandbox manifest needs 6
#: (spec, forks, a fork, customizations, env, an entry).
MAX_DEPTH = 16


class RefusedYaml(yaml.YAMLError):
    """YAML that parses but that the portal does not accept; `problem` says why, for people."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _UntrustedLoader(Composer, SafeConstructor, Resolver, CParser):
    """libyaml's events, composed by PyYAML's composer (which this overrides) into the safe
    loader's plain types."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or (
            isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.anchor is not None
        ):
            raise RefusedYaml("anchors and aliases (& and *) are not accepted", event.start_mark)
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise RefusedYaml(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load(text: str) -> Any:
    """The one document in `text` as plain data (dicts, lists, scalars).

    Raises `RefusedYaml` for anchors, aliases or nesting beyond `MAX_DEPTH`, and PyYAML's
    other `YAMLError`s for text that is not YAML or holds more than one document.
    """
    loader = _UntrustedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
