# bench/plot.gp — bar charts of netcore/kernel ratios, one bar per (workload, metric), one panel
# per topology.
#
#   gnuplot -e "datafiles='sandbox.dat routed.dat'; titles='sandbox routed'; \
#               mtus='65000 1500'; outfile='latest.png'; subtitle='...'" bench/plot.gp
#
# (datafile='ratios.dat' alone still draws one panel.) Each datafile's lines (written by
# bench/run.sh): "workload\nmetric" RATIO BETTER, where RATIO is netcore's value over the
# kernel's and BETTER is 1 when that favours netcore (a higher throughput, connection or
# request rate, a lower latency, memory or CPU cost). Green bars favour netcore, red ones the
# kernel; the y axis is logarithmic so that 2x and 0.5x look alike. titles (the topologies)
# and mtus (their TAP MTUs): one word per datafile, for the panels' titles.

if (!exists("datafiles")) datafiles = exists("datafile") ? datafile : 'ratios.dat'
if (!exists("titles")) titles = ''
if (!exists("mtus")) mtus = ''
if (!exists("outfile")) outfile = 'latest.png'
if (!exists("subtitle")) subtitle = ''

n = words(datafiles)
set terminal pngcairo size 1400, 120 + 560 * n font 'sans,10'
set output outfile

set style fill solid 0.85 border -1
set logscale y 2
set offsets 0.5, 0.5, graph 0.1, graph 0.1
set yrange [*:*]
set ylabel 'netcore / kernel'
set grid ytics
set xtics rotate by -35 left noenhanced
set key off
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb '#404040'

set multiplot layout n, 1 title \
    "netcore / kernel (1 = parity; green: netcore better, red: kernel better)\n" . \
    "throughput, conn/s and req/s: higher is better; latency, memory, CPU s/GB: lower is " . \
    "better\n" . subtitle
set bmargin 9

# Bars grow from 1 (parity) up or down to the ratio; the value sits at the bar's far end.
colour(better) = better > 0 ? 0x2e9e4f : 0xd0413b
do for [i = 1:n] {
    f = word(datafiles, i)
    t = word(titles, i)
    m = word(mtus, i)
    set title (strlen(t) > 0 ? 'topology ' . t : '') . (strlen(m) > 0 ? ' (TAP MTU ' . m . ')' : '') \
        noenhanced
    plot f using 0:2:($0 - 0.35):($0 + 0.35):(1):2:(colour($3)):xtic(1) \
             with boxxyerror lc rgb variable, \
         f using 0:($2 >= 1 ? $2 : NaN):(sprintf('%.2f', $2)) with labels offset 0,0.8 \
             font 'sans,9', \
         f using 0:($2 < 1 ? $2 : NaN):(sprintf('%.2f', $2)) with labels offset 0,-0.8 \
             font 'sans,9'
}
unset multiplot
