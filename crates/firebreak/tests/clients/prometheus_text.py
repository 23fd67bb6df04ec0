"""Reads a Prometheus text exposition from standard input with Prometheus's own Python parser
(prometheus_client) and prints its families as JSON:

    {family: {"type": ..., "help": ..., "samples": [[name, {label: value}, value], ...]}}

A body the parser refuses makes it exit non-zero with the parser's error.
"""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(value):
    # JSON has no infinities or NaN; +Inf appears only as a bucket bound, in the labels.
    return None if math.isnan(value) or math.isinf(value) else value


families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in families:
        sys.exit(f"family {family.name} appears twice")
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [[s.name, s.labels, number(s.value)] for s in family.samples],
    }
json.dump(families, sys.stdout)
