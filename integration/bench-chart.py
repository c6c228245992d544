#!/usr/bin/python3
"""Chart of integration/bench's runs.csv, one column per connection kind. Top: requests/s by path
and Service count (bars are medians, whiskers the min-max over the interleaved rounds). Bottom:
each path's rate over the direct path's in the same round (median, min-max), the figure that
survives a noisy machine.

Usage: bench-chart.py runs.csv bench.png
"""
import csv
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PATHS = ["direct", "enilb", "socket", "iptables", "nftables", "node"]
LABELS = {
    "direct": "direct (own NIC, pod IP)",
    "enilb": "enilb tc (own NIC, ClusterIP)",
    "socket": "enilb socket-lb (own NIC, ClusterIP)",
    "iptables": "kube-proxy iptables (node)",
    "nftables": "kube-proxy nftables (node)",
    "node": "node, no Service (pod IP)",
}
COLORS = {"direct": "#444444", "enilb": "#1f77b4", "socket": "#2ca02c", "iptables": "#d62728", "nftables": "#ff7f0e", "node": "#999999"}
KINDS = [("short", "short connections (Connection: close)"), ("keep-alive", "keep-alive")]


def bars(ax, counts, values_by_key, kind, ylabel):
    width = 0.8 / len(PATHS)
    for i, path in enumerate(PATHS):
        xs, medians, low, high = [], [], [], []
        for j, count in enumerate(counts):
            values = values_by_key.get((count, kind, path))
            if not values:
                continue
            m = statistics.median(values)
            xs.append(j + (i - (len(PATHS) - 1) / 2) * width)
            medians.append(m)
            low.append(m - min(values))
            high.append(max(values) - m)
        ax.bar(xs, medians, width, yerr=[low, high], capsize=2, label=LABELS[path], color=COLORS[path])
    ax.set_xticks(range(len(counts)))
    ax.set_xticklabels([f"{c:,}" for c in counts])
    ax.set_xlabel("Services in the tables")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def main(runs_csv, png):
    rates = defaultdict(list)
    by_round = {}
    counts = set()
    with open(runs_csv, newline="") as f:
        for row in csv.DictReader(f):
            count = int(row["services"])
            counts.add(count)
            rates[(count, row["connections"], row["path"])].append(float(row["rps"]))
            by_round[(count, row["connections"], row["path"], int(row["round"]))] = float(row["rps"])
    ratios = defaultdict(list)
    for (count, kind, path, rnd), rps in by_round.items():
        direct = by_round.get((count, kind, "direct", rnd))
        if direct:
            ratios[(count, kind, path)].append(rps / direct)
    counts = sorted(counts)
    fig, axes = plt.subplots(2, len(KINDS), figsize=(12, 8.5))
    for col, (kind, title) in enumerate(KINDS):
        bars(axes[0][col], counts, rates, kind, "requests/s (median, min-max)")
        axes[0][col].set_title(title)
        bars(axes[1][col], counts, ratios, kind, "x direct, same round (median, min-max)")
        axes[1][col].axhline(1.0, color="black", linewidth=0.8)
        axes[1][col].axhline(0.95, color="#1f77b4", linewidth=0.8, linestyle="--")
        axes[1][col].set_ylim(0, 1.6)
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.suptitle("wrk against nginx: enilb vs kube-proxy vs the direct path")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
