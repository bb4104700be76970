package capacity

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSizes parses a comma-separated list of subscriber counts with optional
// K or M suffixes ("1M,5M,10M", "500K", "2500000").
func ParseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		mult := 1.0
		switch {
		case strings.HasSuffix(strings.ToUpper(f), "M"):
			mult, f = 1e6, f[:len(f)-1]
		case strings.HasSuffix(strings.ToUpper(f), "K"):
			mult, f = 1e3, f[:len(f)-1]
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v*mult > 1e12 {
			return nil, fmt.Errorf("subscriber count %q: want a positive number like 1M, 500K or 2500000", f)
		}
		out = append(out, int64(v*mult))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no subscriber counts given")
	}
	return out, nil
}

// ParseMemory parses a memory size the way redis.conf writes maxmemory:
// a number with an optional unit, 1k = 1000, 1kb = 1024, 1m = 10^6,
// 1mb = 1024², 1g = 10^9, 1gb = 1024³ (any case), e.g. "8gb", "12.5g".
func ParseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v <= 0 || v*mult > 1<<50 {
		return 0, fmt.Errorf("memory size %q: want a positive size like 8gb, 12g or 4096mb (redis.conf units)", s)
	}
	return int64(v * mult), nil
}
