# bench/plot.gp — bar chart of netcore/kernel ratios, one bar per (workload, metric).
#
#   gnuplot -e "datafile='ratios.dat'; outfile='latest.png'; subtitle='...'" bench/plot.gp
#
# datafile lines (written by bench/run.sh): "workload\nmetric" RATIO BETTER, where RATIO is
# netcore's value over the kernel's and BETTER is 1 when that favours netcore (a higher
# throughput, connection or request rate, a lower latency, memory or CPU cost). Green bars favour
# netcore, red ones the kernel; the y axis is logarithmic so that 2x and 0.5x look alike.

if (!exists("datafile")) datafile = 'ratios.dat'
if (!exists("outfile")) outfile = 'latest.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1400,700 font 'sans,10'
set output outfile

set title "netcore / kernel (1 = parity; green: netcore better, red: kernel better)\n" . \
    "throughput, conn/s and req/s: higher is better; latency, memory, CPU s/GB: lower is better\n" . \
    subtitle
set style fill solid 0.85 border -1
set logscale y 2
set offsets 0.5, 0.5, 0, 0
set yrange [*:*]
set ylabel 'netcore / kernel'
set grid ytics
set xtics rotate by -35 left noenhanced
set key off
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb '#404040'

# Bars grow from 1 (parity) up or down to the ratio; the value sits at the bar's far end.
colour(better) = better > 0 ? 0x2e9e4f : 0xd0413b
plot datafile using 0:2:($0 - 0.35):($0 + 0.35):(1):2:(colour($3)):xtic(1) \
         with boxxyerror lc rgb variable, \
     '' using 0:($2 >= 1 ? $2 : NaN):(sprintf('%.2f', $2)) with labels offset 0,0.8 \
         font 'sans,9', \
     '' using 0:($2 < 1 ? $2 : NaN):(sprintf('%.2f', $2)) with labels offset 0,-0.8 \
         font 'sans,9'
