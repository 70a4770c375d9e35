# The commands a newcomer types. Meson + Ninja do the real work.
#   make run    build and start quired on its embedded default (./var)
#   make test   unit, integration and sanitizer tests; ends "N passed, M failed"
#   make asan   the ASan+UBSan build alone
#   make bench  quire against Dovecot, side by side
#   make fuzz   run each fuzz target for a while

MESON_FLAGS ?=

.PHONY: all deps build run test asan bench fuzz clean

all: build

deps:
	@scripts/install-deps

build/build.ninja:
	meson setup build $(MESON_FLAGS)

build: deps build/build.ninja
	ninja -C build

build-asan/build.ninja:
	meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false

asan: deps build-asan/build.ninja
	ninja -C build-asan

run: build
	build/quired --foreground --demo

test: deps
	/usr/bin/python3 scripts/run-tests

bench: build
	@scripts/install-deps --bench
	bench/run-bench

fuzz: deps
	scripts/run-fuzz 60

clean:
	rm -rf build build-asan build-fuzz
