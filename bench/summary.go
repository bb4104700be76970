package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// FormatVersion is the version of summary.json's layout. Compare refuses
// summaries of another major version.
const FormatVersion = 1

// Summary is summary.json: everything needed to judge and compare a run.
type Summary struct {
	FormatVersion int               `json:"format_version"`
	Tag           string            `json:"tag,omitempty"`
	Started       time.Time         `json:"started"`
	Finished      time.Time         `json:"finished"`
	Environment   Environment       `json:"environment"`
	Scenarios     []*ScenarioResult `json:"scenarios"`
	Passed        bool              `json:"passed"`
}

// ScenarioResult is one scenario as run, its figures per target and its thresholds.
type ScenarioResult struct {
	Scenario   *Scenario         `json:"scenario"`
	File       string            `json:"file"`
	Results    []*TargetResult   `json:"results"`
	Thresholds []ThresholdResult `json:"thresholds"`
	Passed     bool              `json:"passed"`
}

// Environment describes where a run happened.
type Environment struct {
	UT360Version    string `json:"ut360_version"`
	Commit          string `json:"commit"`
	GoVersion       string `json:"go_version"`
	OS              string `json:"os"`
	Cores           int    `json:"cores"`
	GOMAXPROCS      int    `json:"gomaxprocs"`
	PostgresVersion string `json:"postgres_version,omitempty"`
	RedisVersion    string `json:"redis_version,omitempty"`
	// RedisProtocol is the RESP version the client speaks (2 unless the URL sets protocol=3).
	RedisProtocol int    `json:"redis_protocol,omitempty"`
	Namespace     string `json:"namespace"`
	// Subscribers and Fingerprint come from the namespace's meta:stats hash.
	Subscribers int64  `json:"subscribers"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// KeySet is the number of ISDNs operations drew from.
	KeySet int `json:"key_set"`
}

func (o *Options) environment(ctx context.Context, keys dataset.Keys, keySet int, pg, rd bool) Environment {
	e := Environment{UT360Version: o.Version, Commit: o.Commit, GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Namespace: keys.Namespace(), KeySet: keySet}
	if pg && o.Pool != nil {
		_ = o.Pool.QueryRow(ctx, "SHOW server_version").Scan(&e.PostgresVersion)
	}
	if rd && o.Redis != nil {
		switch c := o.Redis.(type) {
		case *redis.Client:
			e.RedisProtocol = c.Options().Protocol
		case *redis.ClusterClient:
			e.RedisProtocol = c.Options().Protocol
		}
		if info, err := o.Redis.Info(ctx, "server").Result(); err == nil {
			for _, line := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
					e.RedisVersion = v
				}
			}
		}
	}
	if o.Redis != nil {
		if h, err := o.Redis.HGetAll(ctx, keys.Stats()).Result(); err == nil {
			e.Subscribers, _ = strconv.ParseInt(h[dataset.StatSubscribers], 10, 64)
			e.Fingerprint = h[dataset.StatFingerprint]
		}
	}
	return e
}

// ReadSummary reads a summary.json, or the one in a run folder.
func ReadSummary(p string) (*Summary, error) {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		p = p + string(os.PathSeparator) + "summary.json"
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: not a bench summary: %w", p, err)
	}
	if s.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: summary format version %d, this ut360 reads %d", p, s.FormatVersion, FormatVersion)
	}
	return &s, nil
}
