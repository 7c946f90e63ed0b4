#!/usr/bin/env bash
# Render throughput and peak memory, sealbridge beside the floor (`cat`) and a Go YAML pipeline
# users already run in the same sidecar (`kubectl kustomize` on the same stream), in one run.
#
#   deploy-16m  ~20 MB: 20,000 Deployments, no references (Helm/CRD-bundle shaped)
#   deploy-4m   ~5 MB: 5,000 Deployments, no references
#   tiny-1m     ~13 MB: 1,000,000 tiny objects (`kind: CN`), no references
#   refs-1pct   ~20 MB: 20,000 Deployments, 1 % of them a Secret with `ref+sops://` references
#               into one sops file (no network: the backend time is one age decryption)
#
# Usage: benches/render.sh [SIZES…]   (default: all; needs scripts/setup; builds the release
# binary). Prints, per stream and tool: wall seconds, MB/s, peak RSS (from /usr/bin/time -v)
# and the output size. Not a test: numbers depend on the machine; compare tools within one run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${SEALBRIDGE_TOOLS_DIR:-$root/.tools}
sops="$tools/bin/sops"
kubectl="$tools/bin/kubectl"
[ -x "$sops" ] || { echo "sops is not installed: run scripts/setup" >&2; exit 1; }
[ -x "$kubectl" ] || { echo "kubectl is not installed: run scripts/setup" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) is needed for peak RSS" >&2; exit 1; }
export SOPS_DISABLE_VERSION_CHECK=1
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sb="$target/release/sealbridge"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
keys="$root/tests/fixtures/sops/keys/age1.txt"
recipient=age1e6wqxku7grkjlrpvey6u0djlqelv5jucpd30es6pthd34e0vlsks782rxy
export SOPS_AGE_KEY_FILE="$keys"

streams=("$@")
[ ${#streams[@]} -gt 0 ] || streams=(deploy-4m deploy-16m tiny-1m refs-1pct)

printf 'db:\n  password: bench-not-a-secret\n  user: app\n' > "$work/secrets.yaml"
"$sops" encrypt --age "$recipient" "$work/secrets.yaml" > "$work/secrets.enc.yaml"
rm "$work/secrets.yaml"

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
def deployment(i):
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team-{i % 40}
  labels: {{app: app-{i}, tier: backend, "app.kubernetes.io/managed-by": Helm}}
  annotations:
    description: "Deployment number {i}, generated for the render benchmark"
spec:
  replicas: 3
  selector:
    matchLabels:
      app: app-{i}
  template:
    metadata:
      labels:
        app: app-{i}
    spec:
      containers:
      - name: app
        image: registry.example.com/team/app:{i}.0.1
        args: [--port=8080, --log-level=info, "--name=app-{i}"]
        ports:
        - containerPort: 8080
          name: http
        env:
        - name: MODE
          value: production
        - name: INDEX
          value: "{i}"
        resources:
          limits: {{cpu: 500m, memory: 256Mi}}
          requests: {{cpu: 100m, memory: 128Mi}}
        readinessProbe:
          httpGet: {{path: /healthz, port: http}}
          periodSeconds: 10
      # a comment that a re-emitting tool may move or drop
"""
def secret(i):
    return f"""---
apiVersion: v1
kind: Secret
metadata:
  name: db-{i}
  namespace: team-{i % 40}
type: Opaque
stringData:
  password: ref+sops://secrets.enc.yaml#/db/password
  user: ref+sops://secrets.enc.yaml#/db/user
"""
def write(name, n, f):
    with open(f"{work}/{name}.yaml", "w") as out:
        for i in range(n):
            out.write(f(i))
write("deploy-4m", 5000, deployment)
write("deploy-16m", 20000, deployment)
write("refs-1pct", 20000, lambda i: secret(i) if i % 100 == 0 else deployment(i))
with open(f"{work}/tiny-1m.yaml", "w") as out:
    for i in range(1000000):
        out.write(f"---\nkind: C{i % 10}\n")
PY

measure() { # label sized-file stdin command... -> one table row
  local label=$1 sized=$2 input=$3; shift 3
  local size; size=$(stat -c %s "$sized")
  local log="$work/time.log" out="$work/out"
  if ! /usr/bin/time -v -o "$log" "$@" < "$input" > "$out" 2> "$work/err"; then
    printf '%-11s %-22s %s\n' "$label" "$(basename "$1")" "FAILED: $(head -c 200 "$work/err")"
    return
  fi
  local secs rss outsize
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$log")
  outsize=$(stat -c %s "$out")
  printf '%-11s %-22s %8.2f %10.1f %10s %10.1f\n' "$label" "$(basename "$1") ${2:-}" "$secs" \
    "$(awk -v b="$size" -v s="$secs" 'BEGIN { if (s < 0.01) s = 0.01; print b / 1e6 / s }')" \
    "$rss" "$(awk -v b="$outsize" 'BEGIN { print b / 1e6 }')"
}

printf '%-11s %-22s %8s %10s %10s %10s\n' stream tool seconds MB/s peak_MiB out_MB
for s in "${streams[@]}"; do
  input="$work/$s.yaml"
  [ -f "$input" ] || { echo "unknown stream $s" >&2; exit 2; }
  printf '%-11s input %.1f MB\n' "$s" "$(awk -v b="$(stat -c %s "$input")" 'BEGIN { print b / 1e6 }')"
  measure "$s" "$input" "$input" cat
  # kubectl kustomize reads a kustomization, not stdin: one resource file, the same stream.
  # Its resource accumulation is superlinear (the 16 MB stream ran > 15 min here), so it runs
  # only on streams up to KUSTOMIZE_MAX_MB (default 6).
  if [ "$(stat -c %s "$input")" -le $(( ${KUSTOMIZE_MAX_MB:-6} * 1000000 )) ]; then
    kdir="$work/k-$s"; mkdir -p "$kdir"; cp "$input" "$kdir/stream.yaml"
    printf 'resources: [stream.yaml]\n' > "$kdir/kustomization.yaml"
    measure "$s" "$input" /dev/null "$kubectl" kustomize "$kdir"
  fi
  (cd "$work" && measure "$s" "$input" "$input" "$sb" render -)
done
