package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ut360/ut360/internal/exitcode"
	"github.com/ut360/ut360/internal/testenv"
)

const pingScenario = `name: %s
keys: {distribution: none}
load: {model: closed, concurrency: 2, warmup: 0s, count: 300}
redis:
  commands: [[PING]]
thresholds:
  redis: {p50: %s, error_rate: 0}
`

func writeScenario(t *testing.T, dir, name, p50 string) string {
	t.Helper()
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(strings.Replace(pingScenario, "%s", name, 1), "%s", p50)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var reportLine = regexp.MustCompile(`(?m)^(PASS|FAIL) — report: (.+report\.html)$`)

func TestBenchCLIExitCodes(t *testing.T) {
	rd := testenv.NewRedis(t)
	dir, out := t.TempDir(), t.TempDir()
	flags := []string{"--redis", rd.URL, "--namespace", rd.Namespace, "-q", "bench", "--out", out}

	// 0: every threshold holds.
	code, stdout, stderr := runUT(t, append(flags, "--tag", "ok", writeScenario(t, dir, "fast", "10s"))...)
	m := reportLine.FindStringSubmatch(stdout)
	if code != exitcode.OK || m == nil || m[1] != "PASS" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	okRun := filepath.Dir(m[2])
	for _, f := range []string{"summary.json", "report.md", "report.html", "junit.xml", "fast.redis.hgrm", "fast.redis.hlog"} {
		if _, err := os.Stat(filepath.Join(okRun, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.HasSuffix(okRun, "-ok") || !strings.Contains(stdout, "fast             redis") {
		t.Errorf("run folder %s, stdout:\n%s", okRun, stdout)
	}
	// The client speaks RESP2 (like redis-benchmark) unless the URL asks for 3.
	protocol := func(run string) int {
		var sum struct {
			Environment struct {
				RedisProtocol int `json:"redis_protocol"`
			} `json:"environment"`
		}
		b, _ := os.ReadFile(filepath.Join(run, "summary.json"))
		if err := json.Unmarshal(b, &sum); err != nil {
			t.Fatal(err)
		}
		return sum.Environment.RedisProtocol
	}
	if p := protocol(okRun); p != 2 {
		t.Errorf("redis_protocol %d by default, want 2", p)
	}
	_, stdout, _ = runUT(t, "--redis", rd.URL+"?protocol=3", "--namespace", rd.Namespace, "-q", "bench", "--out", out, "--tag", "resp3", writeScenario(t, dir, "fast", "10s"))
	if m := reportLine.FindStringSubmatch(stdout); m == nil || protocol(filepath.Dir(m[2])) != 3 {
		t.Errorf("protocol=3 in the URL not honoured:\n%s", stdout)
	}

	// 1: a threshold misses (PING does not answer within 1 µs).
	code, stdout, stderr = runUT(t, append(flags, writeScenario(t, dir, "impossible", "1us"))...)
	if code != exitcode.CheckFailed || !strings.Contains(stdout, "FAIL redis p50 ≤ 1µs") || !strings.Contains(stderr, "thresholds missed") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	failRun := filepath.Dir(reportLine.FindStringSubmatch(stdout)[2])
	junit, _ := os.ReadFile(filepath.Join(failRun, "junit.xml"))
	if !strings.Contains(string(junit), `<failure message="redis p50 ≤ 1µs`) {
		t.Errorf("junit.xml:\n%s", junit)
	}

	// 2: bad scenarios, every problem on its own line; bad flags.
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nload:\n  model: half-open\nredis:\n  commands: [[PING]]\n  colour: red\n"), 0o644)
	code, _, stderr = runUT(t, append(flags, bad, filepath.Join(dir, "missing.yaml"))...)
	for _, w := range []string{bad + ":3: load.model: must be closed or open", bad + ":6: redis.colour: unknown field", "missing.yaml: no such file", "ut360: bench: 3 problem(s) in scenario files"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if code != exitcode.Usage {
		t.Errorf("bad scenario: exit %d", code)
	}
	if code, _, stderr = runUT(t, append(flags, "--target", "mysql", "--all")...); code != exitcode.Usage || !strings.Contains(stderr, `--target "mysql"`) {
		t.Errorf("--target mysql: exit %d %s", code, stderr)
	}
	if code, _, _ = runUT(t, flags...); code != exitcode.Usage {
		t.Errorf("no scenario: exit %d", code)
	}

	// 3: the store is unreachable.
	code, _, stderr = runUT(t, "--redis", "redis://127.0.0.1:1/0", "bench", "--out", out, writeScenario(t, dir, "down", "10s"))
	if code != exitcode.Fault || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("unreachable Redis: exit %d %s", code, stderr)
	}

	// compare: a run against itself passes; a tripled p50 without histograms fails.
	if code, stdout, _ = runUT(t, "bench", "compare", okRun, okRun); code != exitcode.OK || !strings.Contains(stdout, "PASS: no regression beyond 10.0%") {
		t.Errorf("compare self: exit %d\n%s", code, stdout)
	}
	raw, _ := os.ReadFile(filepath.Join(okRun, "summary.json"))
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	res := s["scenarios"].([]any)[0].(map[string]any)["results"].([]any)[0].(map[string]any)
	lat := res["latency"].(map[string]any)
	lat["p50_ms"] = lat["p50_ms"].(float64) * 3
	delete(res, "histogram")
	slower, _ := json.Marshal(s)
	slowFile := filepath.Join(dir, "slow.json")
	os.WriteFile(slowFile, slower, 0o644)
	code, stdout, stderr = runUT(t, "bench", "compare", "--max-regression", "50%", okRun, slowFile)
	if code != exitcode.CheckFailed || !regexp.MustCompile(`fast\s+redis\s+p50 .* \+200\.0%\s+REGRESSION`).MatchString(stdout) || !strings.Contains(stderr, "1 regression(s) beyond 50%") {
		t.Errorf("compare slower: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, _ = runUT(t, "bench", "compare", okRun); code != exitcode.Usage {
		t.Errorf("compare with one argument: exit %d", code)
	}
	if code, _, _ = runUT(t, "bench", "compare", "--max-regression", "lots", okRun, okRun); code != exitcode.Usage {
		t.Errorf("bad --max-regression: exit %d", code)
	}
	if code, _, _ = runUT(t, "bench", "compare", okRun, filepath.Join(dir, "nope")); code != exitcode.Usage {
		t.Errorf("missing summary: exit %d", code)
	}
}
