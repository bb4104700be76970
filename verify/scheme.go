package verify

import (
	"strings"

	"github.com/ut360/ut360/dataset"
)

// family is where a key returned by the namespace's SCAN belongs.
type family int

const (
	// famForeign: not this namespace's key scheme. SCAN MATCH "<ns>:*" also
	// returns the keys of every namespace that extends the prefix ("<ns>:t2:…")
	// and keys no ut360 wrote; verify counts them and never touches them.
	famForeign family = iota
	famRec            // <ns>:rec:<ISDN>, ISDN valid
	famProfile        // <ns>:profile:<ISDN>, ISDN valid
	famIndex          // <ns>:idx:service:*, <ns>:idx:risk:*, <ns>:idx:cluster:*
	famMeta           // <ns>:meta:* (stats, swap journal, load lock)
	famStage          // <ns>:stage:* (the staging area of a load)
)

// maxForeignExamples is how many foreign keys a report names.
const maxForeignExamples = 5

// classify places key in the key scheme of namespace k, exactly: a rec or
// profile key needs a valid ISDN (24-character standard base64 of 16 bytes),
// an index key one of the three index kinds and a value; anything else under
// the prefix is foreign. For rec and profile keys it returns the ISDN.
func classify(k dataset.Keys, key string) (family, string) {
	ns := k.Namespace()
	if len(key) <= len(ns) || key[len(ns)] != ':' || key[:len(ns)] != ns {
		return famForeign, ""
	}
	rest := key[len(ns)+1:]
	fam, tail, ok := strings.Cut(rest, ":")
	if !ok || tail == "" {
		return famForeign, ""
	}
	switch fam {
	case "rec", "profile":
		if !validISDN(tail) {
			return famForeign, ""
		}
		if fam == "rec" {
			return famRec, tail
		}
		return famProfile, tail
	case "idx":
		kind, value, ok := strings.Cut(tail, ":")
		if ok && value != "" && (kind == idxService || kind == idxRisk || kind == idxCluster) {
			return famIndex, ""
		}
	case "meta":
		return famMeta, ""
	case "stage":
		return famStage, ""
	}
	return famForeign, ""
}

// owned reports whether verify may write or delete key: a rec, profile or
// index key of the namespace's scheme. Meta and staging keys belong to the
// loader; foreign keys to someone else.
func owned(k dataset.Keys, key string) bool {
	switch f, _ := classify(k, key); f {
	case famRec, famProfile, famIndex:
		return true
	}
	return false
}

// validISDN is dataset.ValidISDN without its allocation: it runs once per
// key SCAN returns (two million at 1,000,000 subscribers) on the one
// goroutine that walks the keyspace. Standard base64 of 16 bytes is 22
// characters of the alphabet and "=="; the last character carries 4 bits of
// padding that strict decoding requires to be zero.
func validISDN(s string) bool {
	if len(s) != 24 || s[22] != '=' || s[23] != '=' {
		return false
	}
	for i := range 22 {
		if b64[s[i]] < 0 {
			return false
		}
	}
	return b64[s[21]]&0x0f == 0
}

// b64 maps a byte to its value in the standard base64 alphabet (-1: none).
var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = int8(i)
	}
	return t
}()
