#!/usr/bin/env bash
# Compares `sealbridge decrypt` with the real `sops decrypt` on the same files, in one run:
#   small: a ~1 KB YAML file (startup dominated)
#   large: a ~5 MB YAML file with ~50,000 encrypted values
# Usage: benches/sops-decrypt.sh [RUNS]   (needs scripts/setup; builds the release binary)
# Prints the median wall time of each tool and the ratio sops/sealbridge.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
tools=${SEALBRIDGE_TOOLS_DIR:-$root/.tools}
sops="$tools/bin/sops"
[ -x "$sops" ] || { echo "sops is not installed: run scripts/setup" >&2; exit 1; }
export SOPS_DISABLE_VERSION_CHECK=1
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sb="$target/release/sealbridge"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keys="$root/tests/fixtures/sops/keys/age1.txt"
recipient=age1e6wqxku7grkjlrpvey6u0djlqelv5jucpd30es6pthd34e0vlsks782rxy
export SOPS_AGE_KEY_FILE="$keys"

python3 - "$work" <<'PY'
import random, sys
random.seed(42)
work = sys.argv[1]
def word(n):
    return ''.join(random.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(n))
with open(f"{work}/large.yaml", "w") as f:
    for i in range(1000):
        f.write(f"service_{i}:\n")
        f.write(f"    # settings of service {i}\n")
        for j in range(48):
            f.write(f"    key_{j}: {word(12)}\n")
        f.write(f"    port: {1000 + i}\n")
        f.write(f"    tags:\n        - {word(8)}\n")
with open(f"{work}/small.yaml", "w") as f:
    f.write("# a small secret file\n")
    for j in range(8):
        f.write(f"key_{j}: {word(20)}\n")
    f.write("nested:\n    user: admin\n    password: " + word(16) + "\n")
PY

for f in small large; do
  "$sops" encrypt --age "$recipient" "$work/$f.yaml" > "$work/$f.enc.yaml"
  # Same bytes out of both tools, or the comparison means nothing.
  cmp <("$sops" decrypt "$work/$f.enc.yaml") <("$sb" decrypt "$work/$f.enc.yaml") \
    || { echo "outputs differ for $f" >&2; exit 1; }
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() { # command... -> median wall ms over $runs runs
  for _ in $(seq "$runs"); do
    s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N)
    echo $(( (e - s) / 1000000 ))
  done | median
}

printf '%-6s %10s %10s %12s %8s\n' file size values_enc sops_ms ratio
for f in small large; do
  size=$(stat -c %s "$work/$f.enc.yaml")
  n=$(grep -c 'ENC\[AES256_GCM' "$work/$f.enc.yaml")
  t_sops=$(time_ms "$sops" decrypt "$work/$f.enc.yaml")
  t_sb=$(time_ms "$sb" decrypt "$work/$f.enc.yaml")
  ratio=$(awk -v a="$t_sops" -v b="$t_sb" 'BEGIN { if (b == 0) b = 1; printf "%.1f", a / b }')
  printf '%-6s %10s %10s %12s %8s   (sealbridge %s ms)\n' "$f" "$size" "$n" "$t_sops" "${ratio}x" "$t_sb"
done
