package dataset

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// DefaultNamespace is the Redis key prefix of SPEC §3.
const DefaultNamespace = "ut360"

// ErrNamespace marks a namespace that ValidateNamespace refuses.
var ErrNamespace = errors.New("invalid namespace")

// familySegments are the key-family names of the scheme: a namespace holding
// one of them as a segment (after its first) could produce, or be taken for,
// another namespace's keys.
var familySegments = []string{"rec", "profile", "idx", "meta", "stage"}

// ValidateNamespace refuses a namespace that could collide with ut360's own
// key families or be misread by a SCAN MATCH pattern: empty after trimming,
// holding whitespace or control characters, glob characters (*?[]\), braces
// (a Redis Cluster hash tag), ":stage" anywhere, or a later ":"-separated
// segment that names a key family (":rec:", ":profile:", ":idx:", ":meta:",
// also at the end, as in "t1:rec"). The error wraps ErrNamespace.
func ValidateNamespace(ns string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrNamespace, ns, why) }
	if strings.TrimSpace(ns) == "" {
		return bad("empty")
	}
	for _, r := range ns {
		switch {
		case unicode.IsSpace(r):
			return bad("contains whitespace")
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return bad("contains a control character or invalid UTF-8")
		case strings.ContainsRune(`*?[]\`, r):
			return bad("contains a glob character (*?[]\\)")
		case r == '{' || r == '}':
			return bad("contains a brace ({}), a Redis Cluster hash tag")
		}
	}
	if strings.Contains(ns, ":stage") {
		return bad(`contains ":stage", the prefix of the loader's staging area`)
	}
	for i, seg := range strings.Split(ns, ":") {
		if seg == "" {
			return bad(`has an empty ":"-separated segment`)
		}
		if i > 0 && slices.Contains(familySegments, seg) {
			return bad(`holds the key family ":` + seg + `" as a segment`)
		}
	}
	return nil
}

// Keys builds the Redis key scheme of SPEC §3 under a namespace, so that tests
// and tenants do not collide. The zero value is not usable; use NewKeys.
type Keys struct{ ns string }

// NewKeys returns the key scheme for namespace ns ("" means DefaultNamespace).
func NewKeys(ns string) Keys {
	if ns == "" {
		ns = DefaultNamespace
	}
	return Keys{ns: ns}
}

// Namespace is the key prefix without the trailing colon.
func (k Keys) Namespace() string { return k.ns }

// Rec is the recommendation hash of a subscriber.
func (k Keys) Rec(isdn string) string { return k.ns + ":rec:" + isdn }

// Profile is the 360-profile hash of a subscriber.
func (k Keys) Profile(isdn string) string { return k.ns + ":profile:" + isdn }

// ServiceIndex is the sorted set of ISDNs of a service, scored by priority_score.
func (k Keys) ServiceIndex(service string) string { return k.ns + ":idx:service:" + service }

// RiskIndex is the set of ISDNs of a risk level.
func (k Keys) RiskIndex(level string) string { return k.ns + ":idx:risk:" + level }

// ClusterIndex is the set of ISDNs of a cluster group.
func (k Keys) ClusterIndex(group int32) string {
	return k.ns + ":idx:cluster:" + strconv.FormatInt(int64(group), 10)
}

// Stats is the meta:stats hash.
func (k Keys) Stats() string { return k.ns + ":meta:stats" }

// RecPrefix and ProfilePrefix are the key prefixes of the per-subscriber families;
// strip them to get the ISDN back.
func (k Keys) RecPrefix() string { return k.ns + ":rec:" }

// ProfilePrefix is the prefix of profile keys.
func (k Keys) ProfilePrefix() string { return k.ns + ":profile:" }

// IndexPrefix is the prefix of every index key.
func (k Keys) IndexPrefix() string { return k.ns + ":idx:" }

// Pattern is a SCAN MATCH pattern for every key of the namespace. The namespace
// itself is escaped so that glob characters in it match literally.
func (k Keys) Pattern() string { return globEscape(k.ns) + ":*" }

func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
