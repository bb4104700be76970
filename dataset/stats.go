package dataset

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Fields of the Redis hash <ns>:meta:stats (Keys.Stats), written last by
// every load: part of the data contract between the loader, verify and
// capacity. Counts are decimal strings.
const (
	StatRecommendations       = "recommendations"        // rows in recommendations
	StatProfiles              = "profiles"               // rows in subscriber_360_profiles
	StatMonthlyRows           = "monthly_rows"           // rows in subscriber_monthly_arpu
	StatRecKeys               = "rec_keys"               // rec hashes written
	StatProfileKeys           = "profile_keys"           // profile hashes written
	StatIndexServiceMembers   = "index_service_members"  // members of all idx:service:* sorted sets
	StatIndexRiskMembers      = "index_risk_members"     // members of all idx:risk:* sets
	StatIndexClusterMembers   = "index_cluster_members"  // members of all idx:cluster:* sets
	StatFingerprint           = "fingerprint"            // Fingerprint of every loaded row
	StatSHA256Recommendations = "sha256_recommendations" // sha256 of the source file ("" from PostgreSQL)
	StatSHA256Profiles        = "sha256_profiles"        // sha256 of the source file ("" from PostgreSQL)
	StatSHA256Monthly         = "sha256_monthly"         // sha256 of the source file ("" from PostgreSQL)
	StatLoadedAt              = "loaded_at"              // RFC 3339, UTC
	StatDurationMS            = "duration_ms"            // wall time of the load
	StatVersion               = "ut360_version"          // version of the ut360 that loaded
	StatSubscribers           = "subscribers"            // = recommendations
	StatTTLSeconds            = "ttl_seconds"            // TTL of per-subscriber keys
	StatSource                = "source"                 // StatSourceFiles or StatSourcePostgres
	StatIndexKeys             = "index_keys"             // JSON list of the live index keys
	StatRejects               = "rejects"                // rows rejected by the load
	// StatGeneration is the generation of the live Redis snapshot (Unix
	// nanoseconds of the start of the load that wrote it).
	StatGeneration = "generation"
	// StatPGGeneration is the generation of the PostgreSQL snapshot the
	// Redis snapshot was made from ("" when Redis alone was loaded from
	// files): verify compares it with PostgreSQL's own (PGGenerationQuery).
	StatPGGeneration = "pg_generation"
	// StatUsedMemoryDelta is the load's Redis used_memory delta, when
	// something recorded it (the loader does not; capacity reads it).
	StatUsedMemoryDelta = "used_memory_delta"
)

// Values of StatSource.
const (
	StatSourceFiles    = "files"
	StatSourcePostgres = "postgres"
)

// PostgreSQL records the generation of its live snapshot as the comment of
// the recommendations table, "ut360 generation G", set on the staging copy so
// that it becomes live with the table in the same commit.
const (
	// GenerationTable is the table whose comment records the generation.
	GenerationTable = "recommendations"
	// PGGenerationQuery reads that comment (NULL when there is none) in the
	// schema of the connection's search_path; ParseGenerationComment reads it.
	PGGenerationQuery = "SELECT obj_description(to_regclass('" + GenerationTable + "'), 'pg_class')"
	generationPrefix  = "ut360 generation "
)

// GenerationComment is the table comment that records generation gen.
func GenerationComment(gen int64) string { return generationPrefix + strconv.FormatInt(gen, 10) }

// ParseGenerationComment is the generation a table comment records, 0 when
// it records none.
func ParseGenerationComment(c string) int64 {
	g, _ := strconv.ParseInt(strings.TrimPrefix(c, generationPrefix), 10, 64)
	return g
}

// IndexKeysJSON is the StatIndexKeys value: the live index keys, sorted, as
// a JSON list ("[]" when there is none).
func IndexKeysJSON(keys []string) string {
	sorted := slices.Sorted(slices.Values(keys))
	if sorted == nil {
		sorted = []string{}
	}
	b, _ := json.Marshal(sorted)
	return string(b)
}
