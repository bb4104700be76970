package dataset

import "strings"

// The staging area of a namespace holds the next snapshot while a load
// fills it: "<ns>:stage:{T}<rest>" is the staging name of the live key
// "<ns><rest>", where T is the SlotTag of the live key's slot. On a Redis
// Cluster both names hash to the same slot, so one script can rename one
// onto the other; on a single server the tag costs a few bytes per key.

// StagePrefix is the prefix of every staging key of the namespace.
func (k Keys) StagePrefix() string { return k.ns + ":stage:" }

// Stage is the staging name of a live key of this namespace.
func (k Keys) Stage(live string) string {
	return k.ns + ":stage:{" + SlotTag(Slot(live)) + "}" + live[len(k.ns):]
}

// LiveOf is the live name of a staging key, false when stage is not one.
func (k Keys) LiveOf(stage string) (string, bool) {
	rest, ok := strings.CutPrefix(stage, k.StagePrefix()+"{")
	if !ok {
		return "", false
	}
	i := strings.IndexByte(rest, '}')
	if i <= 0 || !strings.HasPrefix(rest[i+1:], ":") {
		return "", false
	}
	return k.ns + rest[i+1:], true
}

// StagePattern is a SCAN MATCH pattern for every staging key of the namespace.
func (k Keys) StagePattern() string { return globEscape(k.StagePrefix()) + "*" }

// SwapJournal is the hash that records a swap in progress (see the loader's
// swap protocol): present from the moment the staged snapshot is proved
// complete until the swap has committed and cleaned up.
func (k Keys) SwapJournal() string { return k.ns + ":meta:swap" }

// LoadLock is the key a load holds while it runs.
func (k Keys) LoadLock() string { return k.ns + ":meta:load_lock" }
