"""Reading a Prometheus scrape the way Prometheus does: with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """The samples of one scrape, looked up by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.families: dict[str, str] = {}  # family name -> type
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; KeyError naming it when the scrape lacks it."""
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            raise KeyError(f"no sample {name}{labels} in the scrape:\n{self.text}")
        return self.samples[key]

    def series(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample of this name, by its labels."""
        return {labels: value for (sample, labels), value in self.samples.items() if sample == name}

    def total(self, name: str, **labels: str) -> float:
        """The sum of every sample of this name whose labels include these."""
        wanted = set(labels.items())
        return sum(value for found, value in self.series(name).items() if wanted <= set(found))
