# ut360 — see README.md. Every target brings up what it needs.
GO      ?= go
BIN     := bin/ut360
N       ?= 214000
DATA    ?= results/demo/data
GOFLAGS_BUILD := -trimpath

.PHONY: build test vet demo services services-down bench-gen bench-load bench-verify bench-harness bench-cluster bench-capacity fuzz clean

COMMIT  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

build:
	$(GO) build -ldflags "-X main.commit=$(COMMIT)" -o $(BIN) ./cmd/ut360
	$(GO) build -o bin/redisprobe ./cmd/redisprobe

services:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

# A local Redis Cluster (3 masters + 3 replicas, 127.0.0.1:7001-7006): see docs/cluster.md.
.PHONY: cluster cluster-down
cluster:
	@scripts/cluster.sh up

cluster-down:
	@scripts/cluster.sh down

# The cluster tests (internal/redisconn, …) fail, never skip, without it.
test: cluster

vet:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...
	@$(GO) mod tidy -diff || { echo 'go.mod/go.sum are not tidy: run `go mod tidy` and commit the result' >&2; exit 1; }

# The README's test command; CI runs it through .ci/run.
test: services vet
	$(GO) test -race -timeout 9m ./...

# The main job end to end: gen → migrate → load → verify → bench → capacity → results/demo/index.html.
demo: services build
	$(BIN) demo --subscribers $(N) --data $(DATA) --out results/demo

bench-gen: build
	scripts/bench-gen.sh

bench-load: services build
	scripts/bench-load.sh

bench-verify: services build
	scripts/bench-verify.sh

bench-harness: services build
	scripts/bench-harness.sh

bench-cluster: services cluster build
	scripts/bench-cluster.sh

bench-capacity: services build
	scripts/bench-capacity.sh

fuzz:
	$(GO) test ./dataset -run '^$$' -fuzz FuzzCanonicalRoundTrip -fuzztime 30s
	$(GO) test ./dataset -run '^$$' -fuzz FuzzParseRecommendationCSV -fuzztime 30s
	$(GO) test ./dataset -run '^$$' -fuzz FuzzParquetReader -fuzztime 30s
	$(GO) test ./bench -run '^$$' -fuzz FuzzNumericInt64 -fuzztime 30s
	$(GO) test ./bench -run '^$$' -fuzz FuzzReadReply -fuzztime 30s

clean:
	rm -rf bin

# The CI performance gate locally (scripts/gate.sh, docs/ci.md): baseline and candidate runs,
# bench compare; exits as the gate would. GATE_SLOW=1 make gate shows it failing.
.PHONY: gate
gate: services build
	scripts/gate.sh
