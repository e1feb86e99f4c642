# bench/median.awk — one row per figure, the median of its rounds: `netcore bench --repeat`.
#
#   awk -f bench/median.awk RAW.csv
#
# RAW.csv: round,topology,workload,stack,metric,value,unit (a header line first). Prints
# topology,workload,stack,metric,value,unit with a header, one row per (topology, workload,
# stack, metric) in the order each first came (the run's order, which the tables keep); the
# value is the median of the rounds that gave one (the mean of the middle two for an even
# count).

BEGIN { FS = OFS = "," }
NR == 1 { next }
{
    k = $2 OFS $3 OFS $4 OFS $5
    if (!(k in n)) { keys[++nk] = k; unit[k] = $7 }
    v[k, ++n[k]] = $6
}
END {
    print "topology", "workload", "stack", "metric", "value", "unit"
    for (i = 1; i <= nk; i++) {
        k = keys[i]
        for (a = 2; a <= n[k]; a++)  # insertion sort of at most 9 values
            for (b = a; b > 1 && v[k, b - 1] + 0 > v[k, b] + 0; b--) {
                t = v[k, b]; v[k, b] = v[k, b - 1]; v[k, b - 1] = t
            }
        m = int((n[k] + 1) / 2)
        med = (n[k] % 2) ? v[k, m] : (v[k, m] + v[k, m + 1]) / 2
        print k, med, unit[k]
    }
}
