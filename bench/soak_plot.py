"""Plots and summarises a bench/soak.sh run: soak_plot.py OUT_DIR (reads samples.tsv and
deploys.tsv there, writes soak.png, prints a summary)."""

import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/samples.tsv"), delimiter="\t"))
deploys = [line.split("\t") for line in open(f"{out}/deploys.tsv") if line.strip()]
t = [int(r["time_s"]) / 60 for r in rows]
col = lambda name: [float(r[name]) for r in rows]  # noqa: E731

fig, ax = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
ax[0].plot(t, col("rps"), label="requests/s")
ax[0].set_ylabel("requests/s")
ax[0].set_ylim(0, max(col("rps")) * 1.15)
ax[1].plot(t, col("p50_ms"), label="p50")
ax[1].plot(t, col("p99_ms"), label="p99")
ax[1].plot(t, col("p999_ms"), label="p99.9", alpha=0.5)
ax[1].set_ylabel("latency (ms)")
ax[1].set_yscale("log")
ax[1].legend(loc="upper right")
ax[2].plot(t, col("rss_mb"), label="RSS")
ax[2].set_ylabel("gateway RSS (MB)")
ax[2].set_ylim(0, max(col("rss_mb")) * 1.25)
ax[2].set_xlabel("minutes")
fig.suptitle(
    f"apigw soak: {len(rows)} samples, {len(deploys)} deploys "
    f"({sum(1 for d in deploys if d[1] == 'ok')} ok)"
)
fig.tight_layout()
fig.savefig(f"{out}/soak.png", dpi=80)

def spread(name):
    v = col(name)
    return f"min {min(v):g} median {statistics.median(v):g} max {max(v):g}"

half = len(rows) // 2
rss = col("rss_mb")
print(f"samples: {len(rows)}, requests: {sum(int(r['requests']) for r in rows)}")
print(f"non-200: {sum(int(r['non200']) for r in rows)}, errors: {sum(int(r['errors']) for r in rows)}")
print(f"deploys: {len(deploys)}, failed: {sum(1 for d in deploys if d[1] != 'ok')}")
print(f"requests/s: {spread('rps')}")
print(f"p50 ms: {spread('p50_ms')}")
print(f"p99 ms: {spread('p99_ms')}")
print(f"p99 ms, first half median {statistics.median(col('p99_ms')[:half]):g}, second half median {statistics.median(col('p99_ms')[half:]):g}")
print(f"RSS MB: first {rss[0]:g}, last {rss[-1]:g}, max {max(rss):g}")
