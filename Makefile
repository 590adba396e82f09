# aps-bpf build. `make` builds ./aps-bpf; `make test` provisions the test
# bed and runs every test; `make demo` traces a bundled demo program.
PREFIX ?= /usr/local
CLANG ?= clang
BPFTOOL ?= bpftool
HOST_ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ARCH ?= $(HOST_ARCH)
# `make ARCH=arm64` on x86 cross-builds into .output-arm64/aps-bpf
# (gcc-aarch64-linux-gnu and the :arm64 dev packages: tests/testbed.sh)
ifeq ($(ARCH),$(HOST_ARCH))
OUTPUT ?= .output
BIN := aps-bpf
else
OUTPUT ?= .output-$(ARCH)
BIN := $(OUTPUT)/aps-bpf
CROSS_COMPILE ?= $(subst x86,x86_64,$(subst arm64,aarch64,$(ARCH)))-linux-gnu-
CC := $(CROSS_COMPILE)gcc
endif
CC ?= cc
ifeq ($(filter $(ARCH),x86 arm64),)
$(error ARCH=$(ARCH): aps-bpf builds for x86 and arm64)
endif

CFLAGS ?= -g -O2
WARN := -Wall -Wextra -Werror
INCLUDES := -Iinclude -Iuser -I$(OUTPUT) -I$(OUTPUT)/gen
LIBS := -lbpf -lelf -lz -lm -lpthread -ldl -lmicrohttpd -lprotobuf-c

# clang's own system include dirs, as -idirafter, for the BPF target
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# user/ is one folder per subsystem (README, "Repository layout")
USER_DIRS := $(sort $(dir $(wildcard user/*/*.c)))
USER_SRCS := $(foreach d,$(USER_DIRS),$(wildcard $(d)*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
# everything but main.c is linked into the unit tests too
LIB_OBJS := $(filter-out $(OUTPUT)/user/cli/main.o,$(USER_OBJS))
# only the loader includes the BPF skeletons
SKEL_USERS := live/tracer loop/loop_tracer agent/procwatch
# the pprof schema (user/profile/profile.proto), compiled by protoc-c
PROTO_GEN := $(OUTPUT)/gen
PROTO_H := $(PROTO_GEN)/profile.pb-c.h
PROTO_OBJ := $(PROTO_GEN)/profile.pb-c.o
SAN_PROTO_OBJ := $(OUTPUT)/san/gen/profile.pb-c.o
PROTO_USERS := $(patsubst user/%.c,%,$(wildcard user/profile/*.c))

.PHONY: all clean install test unit integration testbed demo packages fuzz bench test-kernels
all: $(BIN)

$(OUTPUT) $(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c include/aps_events.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
		-Iinclude -Ivmlinux/$(ARCH) $(CLANG_BPF_SYS_INCLUDES) -MMD -MP \
		-c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(foreach u,$(SKEL_USERS),$(OUTPUT)/user/$(u).o $(OUTPUT)/san/$(u).o): $(SKELS)

$(PROTO_GEN)/%.pb-c.c $(PROTO_GEN)/%.pb-c.h: user/profile/%.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(PROTO_GEN)
	$(Q)protoc-c --proto_path=user/profile --c_out=$(PROTO_GEN) $<

$(PROTO_OBJ): $(PROTO_GEN)/profile.pb-c.c $(PROTO_H)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -c $< -o $@

$(SAN_PROTO_OBJ): $(PROTO_GEN)/profile.pb-c.c $(PROTO_H)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g -O1 $(SAN) $(WARN) $(INCLUDES) -c $< -o $@

$(foreach u,$(PROTO_USERS),$(OUTPUT)/user/$(u).o $(OUTPUT)/san/$(u).o): $(PROTO_H)

$(OUTPUT)/user/%.o: user/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -MMD -MP -c $< -o $@

$(BIN): $(USER_OBJS) $(PROTO_OBJ)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

SYSTEMD_UNIT_DIR ?= /etc/systemd/system

# the agent's unit is installed, not enabled: `systemctl enable --now aps-bpf-agent`
install: $(BIN)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/aps-bpf
	install -d $(DESTDIR)$(SYSTEMD_UNIT_DIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|' packaging/aps-bpf-agent.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/aps-bpf-agent.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/aps-bpf-agent.service

# ---- tests -------------------------------------------------------------
# Unit tests of the pure parts, under ASan and UBSan.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
SAN_LIB_OBJS := $(patsubst $(OUTPUT)/user/%.o,$(OUTPUT)/san/%.o,$(LIB_OBJS)) $(SAN_PROTO_OBJ)

$(OUTPUT)/san/%.o: user/%.c
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g -O1 $(SAN) $(WARN) $(INCLUDES) -MMD -MP -c $< -o $@

$(OUTPUT)/tests/%: tests/unit/%.c $(SAN_LIB_OBJS)
	$(call msg,CC-TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -g -O1 $(SAN) $(WARN) $(INCLUDES) -Itests/unit -MMD -MP $< $(SAN_LIB_OBJS) $(LIBS) -o $@

unit: $(UNIT_BINS)
	$(Q)tests/unit/run.sh $(UNIT_BINS)

# ---- fuzzing: the recording reader (libFuzzer) -------------------------
# `make fuzz` builds tests/fuzz/fuzz_reader.c with clang's libFuzzer, ASan
# and UBSan, and runs it FUZZ_RUNS times over tests/fuzz/corpus/ (new
# inputs go to a scratch dir; crashes to $(OUTPUT)/fuzz/). Needs clang's
# runtime (libclang-rt-*-dev, with clang on Debian).
FUZZ_CC ?= clang
FUZZ_RUNS ?= 10000
# the recording reader and what it decodes into: recording/, the model, escaping, the hash map,
# the growable array
FUZZ_SRCS := tests/fuzz/fuzz_reader.c $(wildcard user/recording/rec_*.c) user/recording/varint.c \
	user/loop/loop_rec.c \
	user/model/model.c user/model/hist.c user/output/escape.c user/util/u64_map.c user/util/grow.c

$(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(OUTPUT)/fuzz/fuzz_reader: $(FUZZ_SRCS) $(wildcard user/*/*.h) include/aps_events.h | $(OUTPUT)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		$(WARN) -Iinclude -Iuser $(FUZZ_SRCS) -lz -o $@

fuzz: $(OUTPUT)/fuzz/fuzz_reader
	$(Q)tests/fuzz/run.sh $< $(FUZZ_RUNS) tests/fuzz/corpus $(OUTPUT)/fuzz/artifacts

# ---- benchmarks (root; not part of `make test`) -------------------------
# `make bench` builds aps-bpf and the uprobe floor program, then runs
# bench/run.py: probe floor, per-step and server overhead, ps/pstree speed,
# ingest and loss, memory. Prints a table, writes bench/results.json and
# bench/results.md. Options through BENCH_ARGS, e.g. BENCH_ARGS=--quick or
# BENCH_ARGS='--only floor,step'.
BENCH_OUT := $(OUTPUT)/bench

$(BENCH_OUT):
	$(Q)mkdir -p $@

$(BENCH_OUT)/floor.bpf.o: bench/floor.bpf.c | $(BENCH_OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
		-Ivmlinux/$(ARCH) $(CLANG_BPF_SYS_INCLUDES) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

# (its skeleton: the $(OUTPUT)/%.skel.h rule above)

# frame pointers, no endbr64: floor_target starts with push %rbp
$(BENCH_OUT)/floor: bench/floor.c $(BENCH_OUT)/floor.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -fno-omit-frame-pointer -fcf-protection=none \
		$(WARN) -I$(BENCH_OUT) $< -lbpf -lelf -lz -o $@

bench: aps-bpf $(BENCH_OUT)/floor
	$(Q)command -v wrk >/dev/null || apt-get install -y -q wrk </dev/null || \
		{ apt-get update -q && apt-get install -y -q wrk; } </dev/null
	$(Q)python3 bench/run.py --floor-bin $(BENCH_OUT)/floor $(BENCH_ARGS)

# Debian packages the build needs (clang, bpftool, libbpf-dev, ...).
packages:
	$(Q)tests/testbed.sh --packages-only

testbed: packages
	$(Q)tests/testbed.sh

integration: aps-bpf
	$(Q)python3 tests/integration/run.py

# The kernel matrix: Debian's 5.10, 6.1 and 6.12 kernels booted under qemu
# and the host kernel, every command checked on each (tests/kernels/run.py;
# the kernels are tests/kernels/kernels.tsv). Also part of `make test`.
test-kernels: aps-bpf
	$(Q)python3 tests/kernels/run.py

# The whole suite: provisions the bed, then unit and integration tests.
# Packages first: on a fresh machine there is no clang to build with yet.
test: testbed
	$(Q)$(MAKE) --no-print-directory aps-bpf
	$(Q)python3 tests/run_all.py

demo: packages
	$(Q)$(MAKE) --no-print-directory aps-bpf
	$(Q)tests/demo.sh

clean:
	rm -rf $(OUTPUT) $(BIN)

.DELETE_ON_ERROR:
.SECONDARY:

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/user/*/*.d $(OUTPUT)/san/*/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/tests/*/*.d)
