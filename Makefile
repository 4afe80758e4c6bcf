# The card vault. `make run` serves it locally; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
# Every Lambda function: directory name = logical id in template.yaml
# (VaultCardFunction <-> functions/vault-card).
FUNCTIONS := vault-card get-masked reveal-card delete-card put-secret reveal-secret secret-metadata jwks merchant-keys rotate-dek forward jobs migrate
BUILD_DIR ?= build
# Lambda build flags: static, no RPC shim (provided.al2023), reproducible.
LAMBDA_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -trimpath -tags lambda.norpc -ldflags "-s -w"

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

node_modules/dynalite/cli.js: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node_modules/dynalite/cli.js ## Install Go modules and dynalite (npm).
	$(GO) mod download

.PHONY: run
run: deps ## Serve the vault locally (VAULT_ADDR, default 127.0.0.1:3000).
	$(GO) run ./cmd/vault-local

# stripe-mock, Stripe's API emulator, for the forward tests and the local
# demo: installed from the Go module proxy into .tools/ (git-ignored). The
# version is also shared/stripemock.Version; a test holds the two equal.
STRIPE_MOCK_VERSION ?= v0.203.0
STRIPE_MOCK := $(CURDIR)/.tools/stripe-mock-$(STRIPE_MOCK_VERSION)/stripe-mock

$(STRIPE_MOCK):
	GOBIN=$(dir $@) $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

.PHONY: stripe-mock-install
stripe-mock-install: $(STRIPE_MOCK) ## Install stripe-mock into .tools/ (the tests need it).

.PHONY: stripe-mock
stripe-mock: deps $(STRIPE_MOCK) ## Run stripe-mock behind TLS on loopback and register it as the local vault's "stripe-mock" destination.
	$(GO) run ./cmd/stripe-mock-local

.PHONY: test
test: deps $(STRIPE_MOCK) ## Vet and run every test with the race detector (dynalite and stripe-mock included).
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	  $(GO) test -race -count=1 -timeout 30m ./... 2>&1 | tee "$$out"; status=$${PIPESTATUS[0]}; \
	  echo "slowest packages (wall time of each test binary; they run in parallel):"; \
	  grep -E '^ok ' "$$out" | awk -F'\t' '{print $$3 "\t" $$2}' | sort -rn | head -5 | sed 's/^/  /'; \
	  exit $$status

.PHONY: bench
bench: deps ## Run the benchmarks (figures recorded in docs/).
	GO=$(GO) bash bench/run.sh

# The DESIGN target for a bootstrap: <= 12 MB, in MiB as the benchmarks
# report it (docs/BENCHMARKS.md). Each function links only what it uses
# (docs/architecture.md, "Functions and their parts"); `make build` fails
# when a bootstrap outgrows the target.
BOOTSTRAP_MAX_BYTES ?= 12582912

.PHONY: build
build: $(addprefix $(BUILD_DIR)/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## Build every function for linux/arm64 and check each bootstrap's size.
	@echo "bootstrap sizes (limit $(BOOTSTRAP_MAX_BYTES) bytes):"; over=; \
	  for f in $(FUNCTIONS); do \
	    size=$$(wc -c < $(BUILD_DIR)/$$f/bootstrap); \
	    mark=; if [ $$size -gt $(BOOTSTRAP_MAX_BYTES) ]; then mark="  over the limit"; over="$$over $$f"; fi; \
	    awk -v f=$$f -v s=$$size -v m="$$mark" 'BEGIN { printf "  %-16s %10d bytes %6.2f MiB%s\n", f, s, s/1048576, m }'; \
	  done; \
	  if [ -n "$$over" ]; then echo "bootstraps over $(BOOTSTRAP_MAX_BYTES) bytes:$$over (what each links: go version -m, go tool nm -size -sort size)"; exit 1; fi

# lambda_build OUT,FUNCTION: one function built the way Lambda runs it;
# `make build` and SAM's build-<LogicalId> targets both use it.
lambda_build = $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(1) ./functions/$(2)

$(BUILD_DIR)/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	$(call lambda_build,$@,$*)

# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR.
# The logical id is the function's directory name in CamelCase + Function.
camel = $(subst $(space),,$(foreach w,$(subst -, ,$(1)),$(shell echo $(w) | sed 's/./\U&/')))
space := $(subst ,, )
define sam_target
.PHONY: build-$(call camel,$(1))Function
build-$(call camel,$(1))Function:
	$$(call lambda_build,$$(ARTIFACTS_DIR)/bootstrap,$(1))
endef
$(foreach f,$(FUNCTIONS),$(eval $(call sam_target,$(f))))

.PHONY: vaultctl
vaultctl: ## Build the client CLI into bin/vaultctl.
	$(GO) build -o bin/vaultctl ./cmd/vaultctl

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## Remove build output (not the local vault's data).
	rm -rf $(BUILD_DIR) bin .aws-sam

.PHONY: FORCE
FORCE:

# Deployment (template.yaml, samconfig.toml, docs/deploy.md).
FN    ?=
ENV   ?= default
SAM   ?= sam

.PHONY: invoke
.PHONY: rotate
rotate: deps ## Run the scheduled key rotation locally (FORCE=1 rotates every merchant now); a running `make run` finishes the re-encryption.
	@event=$$(mktemp); \
	  if [ -n "$(FORCE)" ]; then cp events/rotate-dek-force.json $$event; else cp events/rotate-dek.json $$event; fi; \
	  $(GO) run ./cmd/vault-invoke --function rotate-dek --event $$event; status=$$?; rm -f $$event; exit $$status

# Like `sam local invoke`, without a container: the function's bootstrap,
# built for this machine, under aws-lambda-rie with the environment
# template.yaml gives it, in AWS mode on fresh local stand-ins (dynalite,
# local-kms, loopback Secrets Manager and EventBridge) behind the IAM proxy
# (docs/deploy.md). `make rotate` stays in-process: it works on the data of
# the local vault `make run` serves.
invoke: deps lambda-tools ## Invoke one built function under aws-lambda-rie in AWS mode: make invoke FN=vault-card [EVENT=events/vault-card.json].
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> [EVENT=events/<function>.json]"; exit 2; }
	$(GO) run ./cmd/vault-lambda --function $(FN) --event $(or $(EVENT),events/$(FN).json)

.PHONY: validate
validate: deps ## Check template.yaml against the code (functions, routes, IAM) and lint it if cfn-lint is installed.
	$(GO) test -count=1 ./shared/deploy/...
	@if command -v cfn-lint >/dev/null 2>&1; then cfn-lint template.yaml; else echo "cfn-lint not installed: skipped the CloudFormation lint"; fi

.PHONY: package
package: ## Build every function with SAM (sam build, BuildMethod makefile).
	@command -v $(SAM) >/dev/null 2>&1 || { echo "the AWS SAM CLI is needed: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"; exit 1; }
	$(SAM) build --config-env $(ENV)

.PHONY: deploy
deploy: package ## Deploy the stack of ENV (samconfig.toml: default or prod): make deploy ENV=prod.
	$(SAM) deploy --config-env $(ENV)

# Static analysis and fuzzing (docs/security.md). The analysers are pinned
# and installed from the Go module proxy into .tools/, one directory per
# version, so bumping a version reinstalls it.
STATICCHECK_VERSION ?= v0.8.2
GOSEC_VERSION       ?= v2.30.0
TOOLS_DIR   := $(CURDIR)/.tools
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
GOSEC       := $(TOOLS_DIR)/gosec-$(GOSEC_VERSION)/gosec

# The Lambda Runtime Interface Emulator and local-kms, which `make invoke`
# and the suite in shared/lambdarun run (pinned there too, and held to
# these by a test).
RIE_VERSION      ?= v0.0.0-20261030222936-bef5c4ba774d
LOCAL_KMS_VERSION ?= v0.0.0-20260228092603-2a5e92d09ab6
RIE       := $(TOOLS_DIR)/aws-lambda-rie-$(RIE_VERSION)/aws-lambda-rie
LOCAL_KMS := $(TOOLS_DIR)/local-kms-$(LOCAL_KMS_VERSION)/local-kms

$(RIE):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(LOCAL_KMS):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install github.com/nsmithuk/local-kms@$(LOCAL_KMS_VERSION)

.PHONY: lambda-tools
lambda-tools: $(RIE) $(LOCAL_KMS) ## Install aws-lambda-rie and local-kms (pinned) into .tools/.

$(STATICCHECK):
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOSEC):
	GOBIN=$(dir $@) $(GO) install github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)

# bench/ is a module of its own with its own tooling; gosec would walk into
# it from here, staticcheck does not.
.PHONY: lint
lint: $(STATICCHECK) $(GOSEC) ## Static analysis: staticcheck and gosec over ./... (pinned versions).
	$(STATICCHECK) ./...
	$(GOSEC) -quiet -exclude-dir=bench ./...

# Every fuzz target, as package:FuzzName. A crasher lands in the package's
# testdata/fuzz/<FuzzName>/ and from then on runs with every `make test`.
FUZZ_TARGETS := \
	shared/card:FuzzNormalizeValidate shared/card:FuzzMask shared/card:FuzzFindCVC \
	shared/wire:FuzzOpenBearer shared/wire:FuzzOpenJWE shared/wire:FuzzStrictClaims \
	shared/wire:FuzzParseRegistry shared/wire:FuzzParseVaultKeys \
	shared/envelope:FuzzRecordOpen shared/httpapi:FuzzHandle \
	shared/forward:FuzzParseDestinations shared/forward:FuzzBuildJSON
FUZZTIME         ?= 30s
# New inputs are minimised for at most this long; the engine's default (60s)
# would eat a short FUZZTIME whole.
FUZZMINIMIZETIME ?= 5s

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s), one after the other.
	@set -e; for target in $(FUZZ_TARGETS); do \
	  pkg=./$${target%%:*}; name=$${target##*:}; \
	  echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	done

# Load tests (docs/load.md). The server is the one `make run` serves
# (cmd/vault-local), built first so that its process id is known to the
# bench and to the stop at the end; it runs on a fresh data directory and
# port, on loopback only, and stops (with its dynalite) when the bench ends.
LOAD_DURATION    ?= 60s
SOAK_DURATION    ?= 30m
LOAD_CONCURRENCY ?= 8
LOAD_MERCHANTS   ?= 4
LOAD_PORT        ?= 3917

define run_load
	@set -euo pipefail; \
	dir=$$(mktemp -d); pid=; \
	trap 'if [ -n "$$pid" ]; then kill $$pid 2>/dev/null || true; wait $$pid 2>/dev/null || true; fi; rm -rf "$$dir"' EXIT; \
	$(GO) build -o "$$dir/vault-local" ./cmd/vault-local; \
	$(GO) build -o "$$dir/vaultctl" ./cmd/vaultctl; \
	export VAULT_LOCAL_DIR="$$dir/data" VAULT_ADDR=127.0.0.1:$(LOAD_PORT); \
	"$$dir/vault-local" >"$$dir/server.log" 2>&1 & pid=$$!; \
	url=http://127.0.0.1:$(LOAD_PORT); \
	for i in $$(seq 1 120); do \
	  if "$$dir/vaultctl" --url $$url health >/dev/null 2>&1; then break; fi; \
	  if ! kill -0 $$pid 2>/dev/null || [ $$i = 120 ]; then echo "the local vault did not start:"; tail -n 20 "$$dir/server.log"; exit 1; fi; \
	  sleep 0.5; \
	done; \
	echo "load test: $(1) against $$url (server pid $$pid, $$(nproc) CPUs, $$($(GO) env GOVERSION))"; \
	"$$dir/vaultctl" --url $$url bench --duration $(1) --concurrency $(LOAD_CONCURRENCY) --merchants $(LOAD_MERCHANTS) --pid $$pid
endef

.PHONY: load
load: deps ## Load-test a fresh local vault for LOAD_DURATION (default 60s) and print the report.
	$(call run_load,$(LOAD_DURATION))

.PHONY: soak
soak: deps ## The load test for SOAK_DURATION (default 30m), for runs by hand.
	$(call run_load,$(SOAK_DURATION))
