"""GL sinks for the publishing tests."""

from __future__ import annotations


class FlakySink:
    """Takes journals into a list, but fails on chosen calls (after taking part of them, like a
    connection dropping mid-batch)."""

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.calls = 0
        self.received: list[dict] = []

    def publish(self, journals: list[dict]) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            self.received.extend(journals[: len(journals) // 2])
            raise ConnectionError("sink went away")
        self.received.extend(journals)

    def describe(self) -> str:
        return "flaky"
