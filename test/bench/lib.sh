# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Shared by the benchmark scripts (sourced, not run): the quiet-machine check.
# The same measurement as msg.sh's: for about a second, the CPU time all other
# processes use, from /proc/stat minus what this script and its reaped
# children used, in % of one core.
#
#   other_busy_pct              others' CPU use over ~1 s
#   busy_snapshot / busy_since  the same over any stretch of the script
#   wait_quiet NAME MAX WAIT    sets BUSY; re-checks every 30 s up to WAIT s
#   over A B                    true when A > B (decimals)
#   busy_warning WHAT WHERE     the banner printed around --force results

# Busy and total clock ticks of all CPUs: user nice system irq softirq steal
# are busy, idle and iowait are not.
cpu_ticks() {
	local _cpu user nice system idle iowait irq softirq steal _rest
	read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
	echo "$((user + nice + system + irq + softirq + steal)) \
$((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# CPU ticks of this shell and its reaped children (utime stime cutime cstime).
# $$ is the main script's shell even in a command substitution.
self_ticks() {
	local s
	s=$(</proc/$$/stat)
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13} + ${14} + ${15}))
}

# "busy total self" ticks now; hand it to busy_since later.
busy_snapshot() {
	local b t
	read -r b t <<<"$(cpu_ticks)"
	echo "$b $t $(self_ticks)"
}

# busy_since SNAPSHOT: other processes' CPU use since SNAPSHOT, % of one core.
# Children still running are not counted as "self" until reaped: wait for
# them before calling this.
busy_since() {
	local b0 t0 s0 b1 t1 s1
	read -r b0 t0 s0 <<<"$1"
	read -r b1 t1 s1 <<<"$(busy_snapshot)"
	awk -v b=$((b1 - b0 - (s1 - s0))) -v t=$((t1 - t0)) -v n="$(nproc)" \
		'BEGIN { if (b < 0) b = 0; printf "%.1f", (t > 0 ? 100 * b * n / t : 0) }'
}

# Prints other processes' CPU use over ~1 s, in % of one core.
other_busy_pct() {
	local s
	s=$(busy_snapshot)
	sleep 1
	busy_since "$s"
}

over() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

# wait_quiet NAME MAX_PCT WAIT_SEC: measure into BUSY; while over MAX_PCT,
# re-check every 30 s for up to WAIT_SEC seconds (messages say NAME).
wait_quiet() {
	local name=$1 max=$2 wait_max=$3 waited=0
	BUSY=$(other_busy_pct)
	while over "$BUSY" "$max" && [ "$waited" -lt "$wait_max" ]; do
		echo "$name: machine busy (${BUSY}% of one core used by other processes)," \
			"re-checking in 30 s" >&2
		sleep 30
		waited=$((waited + 30))
		BUSY=$(other_busy_pct)
	done
}

# busy_warning WHAT WHERE: WHAT the check found, WHERE what the others competed for.
busy_warning() {
	cat <<EOF
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! WARNING: MACHINE BUSY: $1.
!! Other processes competed for $2: these numbers are NOT
!! representative. Reported only because of --force.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
EOF
}
