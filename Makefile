# Thin wrapper over meson and ninja. See README.md.
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
# Where the Wireshark dissector goes; empty: LIBDIR/wireshark/plugins (see docs/uvfio.1).
WIRESHARK_PLUGIN_DIR ?=
# Everything `make`, `make check`, `make demo` and .ci/run need.
DEPS = meson ninja-build pkg-config gcc libc6-dev libjson-c-dev libcmocka-dev liburing-dev \
       linux-libc-dev clang libclang-rt-14-dev pciutils pci.ids python3 python3-pytest tshark

.PHONY: all deps check demo install clean bench

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@sh scripts/deps.sh $(DEPS)

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --prefix=$(PREFIX) --buildtype=debugoptimized

check: all
	@sh tests/run-tests.sh $(BUILD)

demo: all
	@sh tools/demo.sh $(BUILD)

bench: all
	$(BUILD)/uvfio-bench

# configure, then build, so that install sees this PREFIX (not the last one)
install: $(BUILD)/build.ninja
	meson configure $(BUILD) --prefix=$(PREFIX) -Dwireshark_plugindir=$(WIRESHARK_PLUGIN_DIR)
	ninja -C $(BUILD)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild --destdir "$(DESTDIR)"

clean:
	rm -rf $(BUILD) build-*
