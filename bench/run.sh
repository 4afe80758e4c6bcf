#!/usr/bin/env bash
# Runs every benchmark of the vault and regenerates docs/BENCHMARKS.md and
# docs/bench-summary.svg (`make bench` calls it after `make deps`).
#
# Raw output goes to bench/out/*.txt (git-ignored), one file per step,
# each starting with a "command:" line that holds the exact command, so
# benchstat can compare two runs file by file. BENCH_FULL=1 adds the
# 100,000-record rotation (a few more minutes).
#
# With arguments, only the named steps run again (product, requestpath,
# kms, coldmiss, coldstart, loopback, roundtrips, rotation, import, importcost) and the others'
# output is kept: `bash bench/run.sh loopback coldstart`. (forward is a step too.)
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
OUT=bench/out
mkdir -p "$OUT"
ONLY=" $* "
if [[ $# -eq 0 ]]; then
	rm -f "$OUT"/*.txt
fi

# quote prints a command so that it can be pasted back into a shell.
quote() {
	local out="" a
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./=:,+-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
	done
	printf '%s' "${out% }"
}

# step FILE DIR CMD...: runs CMD in DIR, teeing its output into FILE.
step() {
	local file=$1 dir=$2
	shift 2
	if [[ $ONLY != "  " && $ONLY != *" ${file%.txt} "* ]]; then
		return 0
	fi
	local shown
	shown=$(quote "$@")
	[[ $dir != . ]] && shown="cd $dir && $shown"
	echo "command: $shown" >"$OUT/$file"
	echo ">> $shown"
	(cd "$dir" && "$@") 2>&1 | tee -a "$OUT/$file"
}

(cd bench && "$GO" mod download)

# The product's own Benchmark* functions (the store's run against dynalite).
step product.txt . "$GO" test -run '^$' -bench . -benchmem -count=1 ./shared/...

# 1) Request path against the bare JOSE floor, with a CPU profile whose
#    samples are labelled side=vault / side=floor.
step requestpath.txt bench "$GO" test -run '^$' -bench RequestPath -benchmem -benchtime=3s -count=1 \
	-cpuprofile out/requestpath.prof -o out/inproc.test ./inproc/
if [[ -f bench/out/requestpath.prof ]]; then
	(cd bench && "$GO" tool pprof -top -tagfocus=side=vault -nodecount=30 out/inproc.test out/requestpath.prof >out/requestpath-vault.top 2>/dev/null) || true
fi

# 1b) forward: the latency and CPU it adds over calling the same loopback
#     TLS provider directly, against the bare JOSE floor, interleaved.
step forward.txt bench "$GO" test -run '^$' -bench Forward -benchtime=3s -count=1 ./inproc/

# 2), 3) KMS calls per 1,000 operations and ciphertext sizes.
step kms.txt bench "$GO" test -run '^$' -bench 'KMSPer1000|CiphertextSize' -benchtime=2x -count=1 ./inproc/

# 4) 1,000 simultaneous cold requests, 5 rounds.
step coldmiss.txt bench "$GO" test -run '^$' -bench ColdMiss -benchtime=5x -count=1 ./inproc/

# 5) Cold start per function and arm64 binary sizes.
step coldstart.txt bench "$GO" run ./cmd/coldstart -root .. -runs 5

# 6) End to end over loopback, with raw dynalite beside it.
step loopback.txt bench "$GO" test -run '^$' -bench Loopback -benchtime=1x -count=1 -timeout 30m ./dynamo/

# 6b) DynamoDB calls and critical path per operation, warm and cold.
step roundtrips.txt bench "$GO" test -run '^$' -bench RoundTrips -benchtime=1x -count=1 -timeout 30m ./dynamo/

# 7) Rotation re-encryption (BENCH_FULL=1 adds 100,000 records).
step rotation.txt bench env "BENCH_FULL=${BENCH_FULL:-}" "$GO" test -run '^$' -bench Rotation -benchtime=1x -count=1 -timeout 60m ./dynamo/

# 8) Card import (BENCH_IMPORT_ROWS=10000,1000000 for the million-row file) and
#    its resume after a cut-off.
step import.txt bench env "BENCH_IMPORT_ROWS=${BENCH_IMPORT_ROWS:-}" "$GO" test -run '^$' -bench 'Import$|ImportResume$' -benchtime=1x -count=1 -timeout 120m ./dynamo/

# 8b) What an imported row asks of dynalite, call by call, against a plain put.
step importcost.txt bench "$GO" test -run '^$' -bench 'ImportWriteCost$' -benchtime=1x -count=1 -timeout 30m ./dynamo/

(cd bench && BENCH_FULL="${BENCH_FULL:-}" "$GO" run ./cmd/benchreport -out out -docs ../docs)
echo "wrote docs/BENCHMARKS.md and docs/bench-summary.svg"
