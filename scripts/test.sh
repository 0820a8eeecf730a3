#!/usr/bin/env bash
# THE test command: installs dependencies, builds, runs every test project (unit first, end-to-end last) and
# prints "N passed, N failed". Exits non-zero when anything failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh || exit 1
results="$root/.build/test-results"
rm -rf "$results" && mkdir -p "$results"
echo "== building"
./berth --help >/dev/null || { echo "build of the engine failed"; exit 1; }
dotnet build Berth.slnx -c Debug --nologo -v q >"$results/build.log" 2>&1 || { grep -E "error" "$results/build.log" | sort -u; echo "build failed"; exit 1; }
status=0
for project in Berth.Cli.Tests Berth.Engine.Tests Berth.Api.Tests Berth.Networking.Tests Berth.Cni.Tests Berth.Runtime.Tests Berth.EndToEnd.Tests Berth.Testcontainers.Tests; do
  echo "== $project"
  dotnet test "tests/$project" --no-build --nologo -v q --logger "trx;LogFileName=$project.trx" --results-directory "$results" \
    >"$results/$project.log" 2>&1 || status=1
  grep -E "Passed!|Failed!|error|No test is available" "$results/$project.log" | tail -3
done
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
for trx in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(trx).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(c.get("passed", 0)); failed += int(c.get("failed", 0)) + int(c.get("error", 0))
    skipped += int(c.get("notExecuted", 0))
    for r in ET.parse(trx).getroot().iter("{%s}UnitTestResult" % ns["t"]):
        if r.get("outcome") == "Failed":
            print("FAILED:", r.get("testName"))
            message = r.find("t:Output/t:ErrorInfo/t:Message", ns)
            if message is not None and message.text:
                print("  " + "\n  ".join(message.text.strip().splitlines()[:12]))
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
echo "logs: $results"
exit $status
