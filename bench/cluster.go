package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ut360/ut360/dataset"
)

// NodeResult is one Redis Cluster master's share of a target's work: the
// commands of successful recorded operations whose key hashes to a slot the
// master owned when the run started (the slot map is read once, at start).
type NodeResult struct {
	// Addr is the master's address as the cluster announces it.
	Addr string `json:"addr"`
	// Slots is the number of hash slots it owned at the start.
	Slots int `json:"slots"`
	// Commands counts the commands sent to it (one per key; a keyless
	// command counts for the master of its first argument).
	Commands int64 `json:"commands"`
	// Throughput is Commands per second of the recorded window.
	Throughput float64 `json:"throughput"`
	// Share is its part of all the commands counted (0–1).
	Share float64 `json:"share"`
}

// clusterRoute maps each hash slot to its master, read once from CLUSTER
// SLOTS when a target starts: what per-worker routing and per-master counts use.
type clusterRoute struct {
	cc      *redis.ClusterClient
	masters []string        // addresses, sorted
	clients []*redis.Client // the ClusterClient's client of each master
	slots   []int           // slots owned per master
	owner   [16384]uint16   // slot → index into masters
}

// newClusterRoute reads the slot map of cc. Every slot must be served.
func newClusterRoute(ctx context.Context, cc *redis.ClusterClient) (*clusterRoute, error) {
	ranges, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("bench: CLUSTER SLOTS: %w", err)
	}
	r := &clusterRoute{cc: cc}
	covered := 0
	for _, sr := range ranges {
		if len(sr.Nodes) == 0 {
			continue
		}
		if a := sr.Nodes[0].Addr; !slices.Contains(r.masters, a) {
			r.masters = append(r.masters, a)
		}
	}
	slices.Sort(r.masters)
	r.slots = make([]int, len(r.masters))
	r.clients = make([]*redis.Client, len(r.masters))
	for _, sr := range ranges {
		if len(sr.Nodes) == 0 {
			continue
		}
		i := slices.Index(r.masters, sr.Nodes[0].Addr)
		for s := sr.Start; s <= sr.End && s < len(r.owner); s++ {
			r.owner[s] = uint16(i)
			r.slots[i]++
			covered++
		}
		if r.clients[i] == nil {
			// A key whose hash tag maps to this range's first slot reaches its master.
			c, err := cc.MasterForKey(ctx, "{"+dataset.SlotTag(uint16(sr.Start))+"}")
			if err != nil {
				return nil, fmt.Errorf("bench: the master of slot %d: %w", sr.Start, err)
			}
			r.clients[i] = c
		}
	}
	if covered != len(r.owner) {
		return nil, fmt.Errorf("bench: the cluster serves %d of %d hash slots", covered, len(r.owner))
	}
	return r, nil
}

// node is the index of the master that owns key's slot.
func (r *clusterRoute) node(key string) int { return int(r.owner[dataset.Slot(key)]) }

// nodeResults turns per-master command counts into the report's figures.
func (r *clusterRoute) nodeResults(counts []int64, seconds float64) []NodeResult {
	var total int64
	for _, c := range counts {
		total += c
	}
	out := make([]NodeResult, len(r.masters))
	for i, a := range r.masters {
		out[i] = NodeResult{Addr: a, Slots: r.slots[i]}
		if i < len(counts) {
			out[i].Commands = counts[i]
		}
		if seconds > 0 {
			out[i].Throughput = float64(out[i].Commands) / seconds
		}
		if total > 0 {
			out[i].Share = float64(out[i].Commands) / float64(total)
		}
	}
	return out
}

// commandKey is the key a command addresses: its first argument.
func commandKey(cmd []string, isdn string) string {
	if len(cmd) < 2 {
		return ""
	}
	return fillISDN(cmd[1], isdn)
}

// redirected tells whether err means the key's slot is not (or no longer)
// served where the worker sent it: a redirection, a cluster not serving the
// slot, or a broken connection (a master that failed). The ClusterClient,
// which follows redirections and reloads its slot map, then takes over.
func redirected(err error) bool {
	if err == nil || errors.Is(err, errDecode) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		msg := reply.Error()
		for _, p := range []string{"MOVED ", "ASK ", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "LOADING"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}
