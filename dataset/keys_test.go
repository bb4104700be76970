package dataset

import (
	"errors"
	"testing"
)

func TestValidateNamespace(t *testing.T) {
	for _, tc := range []struct {
		ns string
		ok bool
	}{
		{"ut360", true},
		{"rv", true},
		{"rv:t2", true},
		{"tenant-1:eu_west.2", true},
		{"ut360test-0a1b2c3d4e", true},
		{"rec", true},         // a first segment is the namespace's own name
		{"rv:records", true},  // only whole segments name a family
		{"rv:metadata", true}, // likewise
		{"", false},           // empty
		{"   ", false},        // empty after trimming
		{" rv", false},        // whitespace
		{"rv\tx", false},      // whitespace
		{"rv\u00a0x", false},  // non-breaking space
		{"rv\x00x", false},    // control character
		{"rv\xffx", false},    // invalid UTF-8
		{"rv:stage", false},   // the staging area of rv
		{"rv:stage:x", false}, // inside it
		{"rv:staged", false},  // ":stage" anywhere
		{"rv:rec:x", false},   // ":rec:"
		{"rv:rec", false},     // a family as the last segment
		{"rv:profile:x", false},
		{"rv:idx:service", false}, // would be rv's service index "rv:idx:service:*"
		{"rv:meta:x", false},
		{"rv:meta", false},
		{"rv*", false}, {"r?v", false}, {"rv[1]", false}, {"rv]", false}, {`rv\x`, false}, // glob
		{"{rv}", false}, {"rv{", false}, {"rv}", false}, // braces
		{"rv:", false}, {":rv", false}, {"rv::x", false}, // empty segment
	} {
		err := ValidateNamespace(tc.ns)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateNamespace(%q) = %v, want ok=%v", tc.ns, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrNamespace) {
			t.Errorf("ValidateNamespace(%q) = %v, does not wrap ErrNamespace", tc.ns, err)
		}
	}
	if err := ValidateNamespace(DefaultNamespace); err != nil {
		t.Errorf("the default namespace is refused: %v", err)
	}
}
