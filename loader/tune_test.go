package loader_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/internal/testenv"
	"github.com/ut360/ut360/loader"
)

// TestTuneRedis: where CONFIG works, the setting is raised (never lowered);
// where it is refused but the server already keeps long fields compact, no
// warning.
func TestTuneRedis(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		args    []string
		want    int
		warning bool
	}{
		{"CONFIG works, raised", []string{"--hash-max-listpack-value", "64"}, loader.ListpackValue, false},
		{"CONFIG works, never lowered", []string{"--hash-max-listpack-value", "8192"}, 8192, false},
		{"CONFIG refused, server already compact", []string{"--hash-max-listpack-value", "8192", "--rename-command", "CONFIG", ""}, loader.ListpackValue, false},
		{"CONFIG refused, default setting", []string{"--rename-command", "CONFIG", ""}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: testenv.StartRedis(t, tc.args...)})
			defer rdb.Close()
			var log strings.Builder
			got, err := loader.TuneRedis(ctx, rdb, loader.ListpackValue, slog.New(slog.NewTextHandler(&log, nil)))
			if err != nil || got != tc.want {
				t.Errorf("TuneRedis = %d, %v; want %d", got, err, tc.want)
			}
			if warned := strings.Contains(log.String(), "level=WARN"); warned != tc.warning {
				t.Errorf("warning %v, want %v:\n%s", warned, tc.warning, log.String())
			}
		})
	}
}
