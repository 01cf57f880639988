# Mailyard build.
#
#   make            build libcommon, the five daemons and mailyardctl into build/
#   make asan       the same with AddressSanitizer + UBSan into build-asan/
#   make deps       install missing Debian and Python packages (idempotent)
#   make check      fast loop: build, unit tests, core integration tests
#   make test       everything (installs what is missing first)
#   make run        local demo: PostgreSQL, Redis and all services on loopback
#   make fuzz       run every fuzz target for longer
#   make bench      benchmarks side by side with Postfix/OpenSSL (not in make test)
#   make images     container images, one per service plus mailyardctl
#   make test-deploy  images, Helm chart checks, Ansible lint and rollout
#
# Sources are found by wildcard: libcommon/*.c becomes libmailyard.a,
# services/<name>/*.c becomes build/mailyard-<name> (mailyardctl for the CLI),
# tests/unit/test_*.c becomes one cmocka binary each.

CC       ?= cc
BUILD    ?= build
PKGS     := libmicrohttpd jansson libpq hiredis openssl libcurl libunbound zlib libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT      ?= -O2 -g
SAN      ?=
CFLAGS   := $(OPT) $(SAN) -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
            -Ilibcommon $(PKG_CFLAGS) -MMD -MP
LDLIBS   := $(PKG_LIBS) -pthread -lm

SERVICES := mx rewrite lists archive relay
LIB_SRC  := $(wildcard libcommon/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libmailyard.a

BINS     := $(SERVICES:%=$(BUILD)/mailyard-%) $(BUILD)/mailyardctl
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all asan deps check test test-unit test-integration test-deploy images run fuzz bench clean print-pkgs
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

define service_rule
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard services/$(1)/*.c))
$(2): $$($(1)_OBJ) $(LIB)
	$$(CC) $$(CFLAGS) -o $$@ $$^ $$(LDLIBS) $(3)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s),$(BUILD)/mailyard-$(s),$(if $(filter mx,$(s)),-lmilter -lcrypt -levent_openssl -levent_pthreads -levent_core,))))
$(eval $(call service_rule,mailyardctl,$(BUILD)/mailyardctl,))

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

ASAN_VARS := BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	     SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
asan:
	$(MAKE) $(ASAN_VARS)

deps:
	@bash deploy/local/deps.sh

# Unit tests of the data layer need a real PostgreSQL and Redis:
# with-services.sh starts throwaway ones on free loopback ports.
test-unit: $(UNIT_BIN)
	bash tests/unit/with-services.sh sh -c 'set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done'

test-integration: all
	python3 -m pytest -q tests/integration $(PYTEST_ARGS)

check: all test-unit
	python3 -m pytest -q -m "not slow" tests/integration $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) asan
	$(MAKE) test-unit
	$(MAKE) $(ASAN_VARS) test-unit
	bash tests/fuzz/run.sh short
	# The integration suite runs on the ASan/UBSan build (any sanitizer
	# report in a service log fails the test); the -O2 build is exercised by
	# the deploy tests' containers and by `make check`.
	MAILYARD_BUILD_DIR=build-asan python3 -m pytest -q tests/integration $(PYTEST_ARGS)
	$(MAKE) test-deploy

# Container images (deploy/images/*.Dockerfile); builds a local Debian base
# image with debootstrap when none is present.
images:
	bash deploy/images.sh

# Images, chart checks, playbook lint, container test and Ansible rollout.
test-deploy:
	bash tests/deploy/run.sh

run: deps all
	@bash deploy/local/run.sh

fuzz:
	bash tests/fuzz/run.sh long

# Benchmarks print numbers and ratios against Postfix and openssl speed
# measured in the same run; they assert nothing about time.
bench: all
	bash tests/bench/run.sh

clean:
	rm -rf build build-asan

# The pkg-config packages every binary links (tests/fuzz/run.sh and the
# benchmarks link against libmailyard.a with the same list).
print-pkgs:
	@echo $(PKGS)

-include $(LIB_OBJ:.o=.d) $(foreach s,$(SERVICES) mailyardctl,$($(s)_OBJ:.o=.d))
