package dataset

import "testing"

func TestSlotKnownValues(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{
		"123456789":            12739, // the spec's CRC16 check value 0x31C3
		"foo":                  12182,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"foo{}{bar}":           8363, // empty tag: the whole key is hashed
		"foo{{bar}}zap":        4015, // tag is "{bar"
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestSlotTagRoundTrip(t *testing.T) {
	for s := range uint16(SlotCount) {
		tag := SlotTag(s)
		if got := Slot("ns:stage:{" + tag + "}:rec:x"); got != s {
			t.Fatalf("SlotTag(%d) = %q hashes to %d", s, tag, got)
		}
	}
}
