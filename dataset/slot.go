package dataset

import (
	"strconv"
	"strings"
	"sync"
)

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// crc16tab is CRC16-CCITT (XMODEM), polynomial 0x1021, as the Redis Cluster
// specification defines it for key slots.
var crc16tab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crc16tab[byte(c>>8)^s[i]]
	}
	return c
}

// Slot is the Redis Cluster hash slot of key: CRC16 of the key modulo 16384,
// or of its hash tag, the part between the first "{" and the next "}" when
// that part is not empty.
func Slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16(key) % SlotCount
}

var (
	slotTagsOnce sync.Once
	slotTags     [SlotCount]string
)

// SlotTag is a short string T such that a key containing "{T}" as its first
// braces hashes to slot: the staging name of a live key carries the live
// key's slot this way, so that both can be renamed by one command on a
// cluster. The table is built once (about 20,000 CRCs) and is deterministic.
func SlotTag(slot uint16) string {
	slotTagsOnce.Do(func() {
		left := SlotCount
		for i := 0; left > 0; i++ {
			t := strconv.FormatInt(int64(i), 36)
			if s := crc16(t) % SlotCount; slotTags[s] == "" {
				slotTags[s] = t
				left--
			}
		}
	})
	return slotTags[slot%SlotCount]
}
