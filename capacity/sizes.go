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
