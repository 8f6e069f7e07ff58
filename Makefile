# confhub build: one non-recursive GNU Makefile (STYLE B13).
#   make              release binary: build/confhub (objects in build/release/)
#   make run          install missing packages, build, start the server with example data
#   make test         install what tests need, build with ASan + UBSan, run every test
#   make install PREFIX=/usr/local
#   make BUILD=debug|asan|release
BUILD   ?= release
O       := build/$(BUILD)
CC      ?= cc
PREFIX  ?= /usr/local

PKGS    := jansson libh2o-evloop sqlite3 libcurl openssl zlib libfyaml
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wundef -Wvla -Wpointer-arith -Wimplicit-fallthrough
CFLAGS_debug   := -O0 -g3
CFLAGS_release := -O2 -g -DNDEBUG -D_FORTIFY_SOURCE=2 -fstack-protector-strong
CFLAGS_tsan    := -O1 -g3 -fsanitize=thread
CFLAGS_fuzz    := -O1 -g3 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                  -Wno-string-concatenation
CFLAGS_asan    := -O1 -g3 -fno-omit-frame-pointer -fsanitize=address,undefined \
                  -fno-sanitize-recover=all
CPPFLAGS += -Iinclude -Isrc -I. -I$(O)/gen -D_GNU_SOURCE -DH2O_USE_LIBUV=0
CFLAGS   += -std=c11 $(WARN) $(CFLAGS_$(BUILD)) -fPIC -fvisibility=hidden \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS  += $(filter -fsanitize=%,$(CFLAGS_$(BUILD)))
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lssl -lcrypto -lz -lpthread -lm
# The release server allocates with jemalloc (docs/decisions.md, "The allocator"); sanitizer
# builds keep their own allocator, and libconfhub never imposes one on its host.
MALLOC_release := -ljemalloc
CPPFLAGS_release := -DCONFHUB_JEMALLOC
CPPFLAGS += $(CPPFLAGS_$(BUILD))

COMMON_SRC := $(wildcard src/common/*.c) $(wildcard src/formats/*.c)
SERVER_SRC := $(wildcard src/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
MIGRATIONS := $(sort $(wildcard src/store_migrations/sqlite/*.sql))
GEN_SRC    := $(O)/gen/migrations_sqlite.c
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
TEST_LIB_SRC := $(wildcard tests/lib/*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))
# Everything but the entry point, so unit tests link the real modules.
LIB_OBJ  := $(call obj,$(COMMON_SRC) $(filter-out src/main.c,$(SERVER_SRC)) $(CLI_SRC)) \
            $(GEN_SRC:.c=.o)
# Helpers every unit test binary links (tests/lib/: fault-injecting SQLite VFS, ...).
TEST_LIB_OBJ := $(call obj,$(TEST_LIB_SRC))
BIN      := $(O)/confhub
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

all: $(BIN)
ifeq ($(BUILD),release)
	@cp $(BIN) build/confhub
endif

$(BIN): $(O)/src/main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_$(BUILD))

$(O)/tests/%: $(O)/tests/unit/%.o $(TEST_LIB_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

$(GEN_SRC): $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(@D)
	scripts/embed-sql.sh ch_sqlite_migrations $(MIGRATIONS) > $@

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Test sources include their helpers as "lib/x.h".
$(O)/tests/unit/%.o $(O)/tests/lib/%.o: CPPFLAGS += -Itests

$(O)/gen/%.o: $(O)/gen/%.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Fuzz targets: replayed over their saved corpus by `make test` (gcc, ASan), explored by
# `make fuzz` (clang-14 libFuzzer, build/fuzz).
FUZZ_REPLAY := $(patsubst fuzz/%.c,$(O)/fuzz/replay_%,$(FUZZ_SRC))
FUZZ_BIN    := $(patsubst fuzz/%.c,build/fuzz/fuzz/%,$(FUZZ_SRC))

$(O)/fuzz/replay_%: $(O)/fuzz/%.o $(O)/fuzz/replay_main.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/fuzz/fuzz/%: build/fuzz/fuzz/%.o $(LIB_OBJ)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

units: $(UNIT_BIN) $(FUZZ_REPLAY)

fuzz-targets: $(FUZZ_BIN)

fuzz:
	scripts/deps.sh test
	$(MAKE) BUILD=fuzz CC=clang-14 fuzz-targets
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/fuzz.sh

deps:
	scripts/deps.sh build

run: deps
	$(MAKE) all
	scripts/run.sh

test:
	scripts/deps.sh test
	$(MAKE) BUILD=release all
	$(MAKE) BUILD=asan all units
	$(MAKE) BUILD=fuzz CC=clang-14 fuzz-targets
	scripts/run-tests.sh build/asan

# Benchmarks are not tests: bench/run.sh prints figures and ratios, it never fails on speed.
bench:
	scripts/deps.sh bench
	$(MAKE) BUILD=release all
	$(MAKE) -C bench
	bench/run.sh

# 10,000 WebSocket and SSE watchers, one change to all: latency and RSS per watcher.
bench-watch:
	scripts/deps.sh bench
	$(MAKE) BUILD=release all
	$(MAKE) -C bench
	bench/watch.sh

bench-import:
	scripts/deps.sh bench
	$(MAKE) BUILD=release all
	bench/import.py

bench-history:
	scripts/deps.sh bench
	$(MAKE) BUILD=release all
	bench/history.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/confhub

lint:
	scripts/check-format.sh
	scripts/check-layers.sh

clean:
	rm -rf build

.PHONY: all units deps run test bench bench-watch bench-import bench-history install lint clean fuzz fuzz-targets
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
