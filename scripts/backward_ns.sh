#!/bin/sh
# Backward ns/node, old core against new, in turns in one run:
#   scripts/backward_ns.sh OLD_COMMIT [NODES] [ROUNDS]
# Builds benchmarks/backward_ns.c against OLD_COMMIT's csrc and against the
# working tree's, with the module's flags, then runs the two alternately.
set -e
old=$1; nodes=${2:-1000000}; rounds=${3:-3}
dir=$(mktemp -d)
git archive "$old" csrc | tar -x -C "$dir"
srcs="cancel nodes ops graph dense backward fuse layers lanes rowmats rows program optim gradgraph"
build() {   # $1: csrc dir, $2: output
    gcc -O3 -std=c11 -ffp-contract=off -Wall -Wextra -Werror -I"$1" benchmarks/backward_ns.c \
        $(for s in $srcs; do echo "$1/$s.c"; done) -lm -o "$2"
}
build "$dir/csrc" "$dir/old"
build csrc "$dir/new"
for r in $(seq "$rounds"); do
    echo "old: $("$dir/old" "$nodes")"
    echo "new: $("$dir/new" "$nodes")"
done
echo "binaries: $dir/old $dir/new"
