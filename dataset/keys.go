package dataset

import "strconv"

// DefaultNamespace is the Redis key prefix of SPEC §3.
const DefaultNamespace = "ut360"

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
