#!/bin/bash
# bench/mdtable.sh — the Markdown table of README's Performance section from a CSV of
# `netcore bench` (topology,workload,stack,metric,value,unit):
#
#   bench/mdtable.sh [bench/results/latest.csv]
#
# One row per (workload, metric) in the order of the CSV, one column per topology in it, each
# cell "netcore / kernel (ratio)"; ratios as in run.sh's tables (none for memory held in the
# process or in the kernel alone). No root needed.
set -euo pipefail

csv=${1:-$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/results/latest.csv}
[ -r "$csv" ] || { echo "bench/mdtable.sh: cannot read $csv" >&2; exit 2; }
head -n 1 "$csv" | grep -q '^topology,workload,stack,metric,value,unit$' ||
    { echo "bench/mdtable.sh: $csv is not a CSV of netcore bench with topologies" >&2; exit 2; }

awk -F, '
    # A figure as a person reads it: 3 significant digits, no exponent.
    function fmt(x) {
        x += 0
        if (x >= 1000) return sprintf("%.0f", x)
        if (x >= 100) return sprintf("%.0f", x)
        if (x >= 10) return sprintf("%.1f", x)
        return sprintf("%.2f", x)
    }
    NR == 1 { next }
    {
        if (!($1 in seen_t)) { seen_t[$1] = 1; topos[++nt] = $1 }
        k = $2 "," $4
        if (!(k in seen_k)) { seen_k[k] = 1; keys[++nk] = k; unit[k] = $6 }
        v[$1, k, $3] = $5
    }
    END {
        printf "| workload | metric |"
        for (j = 1; j <= nt; j++) printf " %s: netcore / kernel (ratio) |", topos[j]
        printf "\n|---|---|"
        for (j = 1; j <= nt; j++) printf "---|"
        printf "\n"
        for (i = 1; i <= nk; i++) {
            split(keys[i], p, ",")
            if (p[2] == "user_per_conn" || p[2] == "kernel_per_conn") continue
            printf "| %s | %s (%s) |", p[1], p[2], unit[keys[i]]
            for (j = 1; j <= nt; j++) {
                nc = v[topos[j], keys[i], "netcore"]; kn = v[topos[j], keys[i], "kernel"]
                if (nc == "" && kn == "") { printf " – |"; continue }
                cell = (nc == "" ? "–" : fmt(nc)) " / " (kn == "" ? "–" : fmt(kn))
                if (nc != "" && kn != "" && kn + 0 > 0)
                    cell = cell sprintf(" (%.2f)", nc / kn)
                printf " %s |", cell
            }
            printf "\n"
        }
    }' "$csv"
